"""The refusal check: did the model decline instead of answering?

Heuristic, in three steps:
1. Blank out code, quoted passages and blockquotes, so "the error says 'I cannot process this'" is
   not read as the model's own words.
2. Look for a refusal opener in the first sentences only (all of them when the answer is short), so
   a long answer with "I can't" deep inside is not a refusal. Openers are specific phrases ("I'm
   sorry, but I can't", "I cannot help with", "I must decline", "As an AI… I don't"), never a bare
   "I can't" ("I can't wait to help!", "I cannot stress enough…").
3. When a refusal opener is followed by substantial helpful content (a pivot such as "but you can",
   steps, a list or code), call it a partial refusal: it declines something yet still answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from re import _constants as _sre  # noqa: PLC2701 - the stdlib parse of a pattern the gate reads
from re import _parser as _sre_parser  # noqa: PLC2701
from typing import Any

from apps.evaluators.checks.analysis import answer_analysis
from apps.evaluators.checks.base import Check, clean_int, clip, finish
from apps.evaluators.checks.language import SUPPORTED, detect_language, surely_supported
from apps.evaluators.checks.text import WORD_RE, mask_quotes, normalise_apostrophes, split_sentences, word_count
from apps.evaluators.subject import CheckResult, Subject
from apps.scores.metrics import Direction

CANT = (
    r"(?:can ?not|can't|cant|could not|couldn't|won't|will not|(?:won't|will not|am not|'m not) be able to|"
    r"am (?:not able|unable) to|'m (?:not able|unable) to|am not going to|'m not going to)"
)
# Verbs that make "I can't <verb>" a refusal. Bare "I can't" never counts ("I can't wait", "I cannot stress
# enough"), and "help" excludes "help but …" / "help feeling …".
REFUSE_VERB = (
    r"(?:help(?!\s+(?:but|feel|think|wonder|notic|smil|laugh))|assist|provide|comply|fulfil+|answer|respond to|share|"
    r"give|create|generate|write|produce|engage|participate|support (?:you|that|this)|discuss|continue with|"
    r"proceed with|process (?:this|that|your)|complete (?:this|that|your)|do (?:that|this|so)|offer|"
    r"recommend (?:specific|any)|run|access|browse|retrieve|look up|perform|execute|make (?:that|this)|honou?r|"
    r"facilitate|endorse|condone|encourage|aid|be of (?:help|assistance)|reveal|disclose|tell you(?! how)|"
    r"diagnose|prescribe)"
)
# After "I'm sorry, but I can't", verbs that make it sympathy rather than a refusal.
NOT_REFUSAL_AFTER_SORRY = (
    r"(?!\s+(?:imagine|wait|believe|stress|emphasi[sz]e|overstate|thank|express|say enough|even begin|tell you how))"
)
AS_AN_AI = r"\bAs an? (?:AI|artificial intelligence|(?:large )?language model|LLM)(?:\s+(?:language\s+)?model|\s+assistant|\s+developed by [\w ]{2,30})?,?\s+I\s*(?:don't|do not|can(?:not|'t)|am not|'m not|have no|lack|won't|am unable|'m unable)\b"

ENGLISH = [
    # "I'm sorry, but I can't…", "Sorry, I cannot…", "I apologize, but I'm unable to…"
    rf"\b(?:sorry|apologi[sz]e|regret)\b[^.!?\n]{{0,25}}?(?:\bbut\b|,|;|:)\s*I\s*{CANT}\b{NOT_REFUSAL_AFTER_SORRY}",
    rf"\bI(?:'m| am) afraid (?:that )?I\s*{CANT}\b{NOT_REFUSAL_AFTER_SORRY}",
    rf"\bI\s*{CANT}\s+(?:really\s+|actually\s+|directly\s+|personally\s+|currently\s+)?{REFUSE_VERB}",
    r"\bI\s+(?:don't|do not)\s+(?:feel comfortable|have the ability|have access|have the capability|provide|offer|give|engage in|assist with)\b",
    r"\bI\s+(?:must|have to|need to|will have to|'ll have to|would have to)\s+(?:respectfully\s+|politely\s+)?(?:decline|refuse|refrain)\b",
    r"\bI\s+(?:respectfully|politely)\s+decline\b",
    r"\bI(?:'m| am)\s+not\s+(?:comfortable|in a position|permitted|allowed|authori[sz]ed|designed|programmed)\s+(?:to|with|\w+ing)\b",
    r"\b(?:that|this|it)(?:'s| is)\s+not something I\s+(?:can|am able to|'m able to|will)\b",
    r"\b(?:that|this|it)(?:'s| is) something I\s*(?:can(?:not|'t)|am not able to|'m not able to|won't|will not|am unable to)\b",
    AS_AN_AI,
    r"\b(?:against|violates?|violating|conflicts? with|outside(?: of)?)\s+(?:my|OpenAI's|Anthropic's|Google's)\s+(?:own\s+|ethical\s+|programming\s+|safety\s+|usage\s+|content\s+)*(?:guidelines|polic(?:y|ies)|principles|programming|rules)\b",
    r"\b(?:content|usage|safety) polic(?:y|ies)\b[^.!?\n]{0,40}\b(?:prevent|prohibit|do(?:es)? not allow|don't allow|forbid)",
    # Soft refusals: "that's outside what I'm able to do here", "beyond my scope", "I can only help with…"
    r"\b(?:that|this|it|your (?:request|question))(?:'s| is| falls| lies| seems| sits)?\s+(?:a (?:bit|little) |rather |somewhat |well |unfortunately )?"
    r"(?:outside|beyond)\s+(?:of\s+)?(?:what I(?:'m| am)?\s*(?:able to|can|could|allowed to|permitted to|set up to)|"
    r"my (?:scope|remit|capabilities|abilities|area|role|purview)|the scope of (?:what I|this chat|this assistant|my))",
    r"\bI(?:'m| am)? (?:only (?:able|here|designed|set up|allowed|permitted) to|can only) (?:help|assist|answer|discuss|talk about|support)\b",
    r"\bI(?:'d| would) (?:rather|prefer) not (?:to )?(?:help|answer|discuss|get into|provide|share|comment|go into)\b",
    r"\b(?:isn't|is not|\w+'s not) (?:really |exactly |quite )?something I(?:'m| am)?\s*(?:able to|can|could|allowed to) "
    r"(?:help|assist|do|answer|discuss|share)",
    r"\bI(?:'ll| will|'m going to| am going to)? (?:have to|need to|must) pass on (?:this|that|your)\b",
    # Policy refusals: the assistant declining because a policy binds it, not a policy stated as an answer.
    r"\bpolic(?:y|ies)\b[^.!?\n]{0,40}?\b(?:(?:prevents?|prohibits?|forbids?|stops?|bars?|restricts?) me\b|"
    r"(?:doesn't|does not|don't|do not|won't) (?:allow|let|permit) me\b)",
    # The verb right after the request ("your request violates"), not in a clause about it ("the question of
    # whether this violates GDPR").
    r"\b(?:this|that|your|the) (?:request|question|prompt|ask)\s+(?:\w+\s+){0,2}?(?:violates?|goes against|is against|"
    r"would (?:violate|go against|breach)|conflicts? with|breaches?|isn't allowed|is not allowed|is prohibited)\b",
    r"\bI(?:'m| am) (?:not (?:able|going|willing) to|unable to) (?:help|assist) (?:with|you with) (?:that|this|requests? like)",
]
SPANISH = [
    r"\b(?:lo siento|disculpa|disculpe|perdón|lamentablemente|lamento)\b[^.!?\n]{0,25}?\bno\s+(?:puedo|podemos|me es posible|es posible|estoy en condiciones)\b",
    r"\bno\s+(?:puedo|podemos)\s+(?:ayudar|ayudarte|ayudarle|ayudaros|asistir|asistirte|proporcionar|proporcionarte|facilitar|cumplir|responder|hacer eso|dar|darte|ofrecer|compartir|generar|crear|acceder|procesar)",
    r"\bcomo (?:un |una )?(?:modelo de (?:lenguaje|ia)|ia|inteligencia artificial|asistente de ia)\b[^.!?\n]{0,30}?\bno\b",
    r"\bdebo (?:rechazar|declinar|negarme)\b",
    r"\bva en contra de (?:mis|las|nuestras) (?:directrices|políticas|normas)\b",
    r"\b(?:eso|esto|esa consulta|esa pregunta|tu (?:consulta|pregunta|solicitud))\s+(?:está|queda|se encuentra)\s+fuera de\s+"
    r"(?:lo que puedo|mi alcance|mis capacidades|mis funciones|mi ámbito|lo que (?:me está|tengo) permitido)",
    r"\bsolo puedo (?:ayudarte|ayudarle|ayudar|responder|atender)\b",
    r"\bno (?:tengo permitido|estoy autorizad[oa]|me está permitido|me es posible)\b",
    r"\bno puedo (?:ayudarte|ayudarle|ayudar) con (?:eso|esto|ese tema|esa solicitud)",
    r"\b(?:mis|nuestras) (?:políticas|directrices|normas) (?:no me permiten|me impiden)\b",
]
FRENCH = [
    r"\b(?:je suis )?(?:désolée?|navrée?)\b[^.!?\n]{0,25}?\bje ne (?:peux|puis|suis pas en mesure|suis pas autorisée?)\b",
    r"\bje ne (?:peux|puis) pas (?:vous |t'|te |y )?(?:aider|répondre|fournir|donner|assister|accéder|satisfaire|accomplir|faire cela|faire ça|générer|créer|partager|traiter)",
    r"\bje ne suis pas en mesure de\b",
    r"\ben tant qu(?:e |')\s*(?:ia|intelligence artificielle|modèle de langage|assistant)\b[^.!?\n]{0,30}?\bne\b",
    r"\bje dois (?:refuser|décliner)\b",
    r"\b(?:contraire|va à l'encontre) (?:à |de )?(?:mes|aux|nos) (?:directives|règles|politiques)\b",
    r"\bje ne (?:peux|puis|pourrai) (?:malheureusement |hélas |donc )?pas (?:vous |t'|te |y )?(?:aider|répondre|fournir|donner|"
    r"assister|accéder|traiter|communiquer|partager|divulguer)",
    r"\b(?:cela|ceci|ça|c'est|cette (?:demande|question))\s+(?:\w+\s+){0,2}?(?:dépasse|sort du cadre|(?:est |se situe )?en dehors)"
    r"\s*(?:de |du |des )?(?:ce que je (?:peux|suis)|mes (?:compétences|capacités|attributions|fonctions)|mon (?:rôle|champ|périmètre))",
    r"\bje (?:peux|suis en mesure d') ?(?:uniquement|seulement) (?:vous |t')?(?:aider|répondre)\b",
    r"\bje ne suis pas (?:autorisée?|habilitée?|censée?) à\b",
    r"\b(?:nos|mes) (?:règles|politiques|directives) (?:ne me permettent pas|m'interdisent|m'empêchent)\b",
]
GERMAN = [
    r"\b(?:es tut mir leid|entschuldigung|tut mir leid|bedaure)\b[^.!?\n]{0,25}?\bich kann\b[^.!?\n]{0,60}?\bnicht\b",
    r"\bleider kann ich\b[^.!?\n]{0,60}?\bnicht\b",
    r"\bich kann (?:[^\W\d_]+\s+){0,4}?nicht\s+(?:[^\W\d_]+\s+){0,2}?(?:helfen|behilflich|beantworten|erfüllen|bereitstellen|geben|liefern|nachkommen|unterstützen|durchführen|zugreifen)",
    r"\bals (?:eine? )?(?:ki|künstliche intelligenz|sprachmodell|ki-assistent)\b[^.!?\n]{0,40}?\b(?:nicht|kein|keine)\b",
    r"\bich muss (?:das |dies |diese anfrage |ihre anfrage )?(?:leider )?ablehnen\b",
    r"\bich bin (?:leider )?nicht in der lage\b",
    r"\bkann ich (?:ihnen |dir |euch )?(?:leider |hier |dabei |damit |dazu )*nicht"
    r"\s+(?:weiter)?(?:helfen|behilflich|beantworten|unterstützen|sagen|mitteilen|geben)",
    r"\bdarf ich (?:ihnen |dir |euch )?(?:leider |hier |dazu |darüber )*(?:keine|nicht)\b",
    r"\b(?:das|dies|diese (?:anfrage|frage)) (?:liegt|fällt) (?:leider )?außerhalb\s+(?:meines|meiner|dessen|des)",
    r"\bich darf (?:ihnen |dir |euch )?(?:[^\W\d_]+\s+){0,3}?(?:leider )?(?:nicht|keine)\b",
    r"\bich kann (?:ihnen |dir )?(?:leider )?nur (?:bei|zu|fragen|auskunft)\b",
    r"\b(?:richtlinien|vorgaben|regeln) (?:erlauben|gestatten) (?:es )?mir (?:leider )?nicht\b",
]
PORTUGUESE = [
    r"\b(?:desculpe|sinto muito|lamento|infelizmente)\b[^.!?\n]{0,25}?\b(?:eu )?não\s+(?:posso|consigo|é possível|estou autorizad)",
    r"\bnão posso (?:te |lhe |o |a )?(?:ajudar|fornecer|responder|atender|cumprir|auxiliar|dar|compartilhar|gerar|criar|acessar|fazer isso)",
    r"\bcomo (?:um |uma )?(?:modelo de linguagem|ia|inteligência artificial|assistente de ia)\b[^.!?\n]{0,30}?\bnão\b",
    r"\bdevo (?:recusar|declinar)\b",
    r"\b(?:isso|isto|essa (?:pergunta|solicitação))\s+(?:está|fica)\s+fora d[oa]\s+(?:que (?:eu )?posso|meu escopo|minhas capacidades|minha área)",
    r"\b(?:só|somente|apenas) posso (?:te |lhe )?(?:ajudar|responder|auxiliar)\b",
    r"\bnão (?:tenho permissão|estou autorizad[oa]|me é permitido|consigo (?:te |lhe )?ajudar)\b",
    r"\b(?:nossas|minhas) (?:políticas|diretrizes|regras) (?:não me permitem|me impedem)\b",
]
ITALIAN = [
    r"\b(?:mi dispiace|spiacente|purtroppo|mi scuso)\b[^.!?\n]{0,25}?\bnon (?:posso|sono in grado|riesco|mi è possibile)\b",
    r"\bnon posso (?:aiutarti|aiutarla|aiutare|fornire|fornirti|rispondere|soddisfare|assisterti|darti|dare|condividere|generare|creare|accedere|farlo)",
    r"\bcome (?:un |una )?(?:modello (?:di linguaggio|linguistico)|ia|intelligenza artificiale|assistente ia)\b[^.!?\n]{0,30}?\bnon\b",
    r"\bdevo (?:rifiutare|declinare)\b",
    r"\b(?:questo|questa (?:richiesta|domanda)|ciò)\s+(?:è|esula|va)\s+(?:al di )?(?:fuori|oltre|dalle)\s+(?:dalle |delle |di )?"
    r"(?:ciò che posso|quello che posso|mie (?:competenze|funzioni|capacità))",
    r"\bposso (?:aiutarti|aiutarla|rispondere) (?:solo|soltanto|unicamente)\b",
    r"\bnon (?:sono autorizzat[oa]|mi è consentito|sono in grado di)\b",
    r"\b(?:le nostre|le mie) (?:politiche|linee guida|regole) non mi (?:permettono|consentono)\b",
]
DUTCH = [
    r"\b(?:het spijt me|sorry|helaas)\b[^.!?\n]{0,25}?\bik kan\b[^.!?\n]{0,50}?\bniet\b",
    r"\bik kan (?:je|u|jou) (?:daar|hier|hiermee|daarmee|hierbij|daarbij)?\s*niet (?:mee |bij )?helpen\b",
    r"\bals (?:een )?(?:ai|taalmodel|ai-assistent)\b[^.!?\n]{0,40}?\b(?:niet|geen)\b",
    r"\b(?:daar|hier|daarmee|hiermee) kan ik (?:je|u|jou) (?:helaas |niet |daar |hier )*(?:niet )?(?:mee |bij )?(?:helpen|verder)",
    r"\bhelaas kan ik\b[^.!?\n]{0,50}?\bniet\b",
    r"\b(?:dat|dit|die vraag|uw vraag|je vraag) valt (?:helaas )?buiten\s+(?:wat ik|mijn|de grenzen)",
    r"\bik (?:mag|kan) (?:je |u )?(?:alleen|uitsluitend) (?:helpen|vragen)",
    r"\bik mag (?:je |u |jou )?(?:[^\W\d_]+\s+){0,3}?(?:helaas )?(?:niet|geen)\b",
    r"\bik ben (?:helaas )?niet in staat\b",
    r"\bmag ik (?:je |u |jou )?(?:daar |hier |helaas |daarover )*(?:geen|niet)\b",
]
REFUSAL_PATTERNS = ENGLISH + SPANISH + FRENCH + GERMAN + PORTUGUESE + ITALIAN + DUTCH
# Every pattern starts with \b and a word character, so \b there is "no word character before, one after": testing
# that once, ahead of the alternation, lets the engine skip most positions without trying each pattern (~35% faster).
if not all(p.startswith(r"\b") for p in REFUSAL_PATTERNS):
    raise ValueError("every refusal pattern must start with \\b (REFUSAL_RE factors it out)")
REFUSAL_RE = re.compile(r"(?<!\w)(?=\w)(?:" + "|".join(f"(?:{p[2:]})" for p in REFUSAL_PATTERNS) + ")", re.I)


# --- the literal gate -------------------------------------------------------------------------------------------
# A pattern can only match text that holds the plain strings it is spelt with: "sorry|apologi|regret", then one of
# the CANT forms, and so on. Those strings are read from the stdlib's own parse of each pattern (re._parser, what
# re.compile runs), so they follow the patterns as edited: for an ASCII sentence, a pattern with a string set none
# of whose strings the lowercased sentence holds cannot match it, and leaving it out of the alternation changes no
# match (an alternative that cannot match anywhere never wins at any position). Only the patterns left are run.


def _required_strings(items: Any) -> tuple[str | None, list[frozenset[str]]]:
    """What every match of a parsed pattern (re._parser items) holds: (the one string it matches when it is plain
    characters only, else None; sets of strings, each set with one of its strings in every match)."""
    clauses: list[frozenset[str]] = []
    run: list[str] = []  # the plain characters since the last construct that is not one
    whole: list[str] | None = []  # every character so far, while the items are plain characters only

    def close_run() -> None:
        if run:
            clauses.append(frozenset(["".join(run)]))
            run.clear()

    for op, av in items:
        if op is _sre.LITERAL:
            run.append(chr(av))
            if whole is not None:
                whole.append(chr(av))
            continue
        exact, inner = None, []
        if op is _sre.SUBPATTERN and not av[1] and not av[2]:  # a group without inline flags
            exact, inner = _required_strings(av[3])
        elif op is _sre.ATOMIC_GROUP:
            exact, inner = _required_strings(av)
        elif op is _sre.BRANCH:
            # One of the alternatives matches: a set made of one set of each alternative holds (none if any
            # alternative requires nothing).
            picks: list[frozenset[str]] = []
            for alternative in av[1]:
                alt_exact, alt_clauses = _required_strings(alternative)
                options = [frozenset([alt_exact])] if alt_exact else alt_clauses
                if not options:
                    picks = []
                    break
                picks.append(max(options, key=_strength))
            inner = [frozenset().union(*picks)] if picks else []
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and av[0] >= 1:
            body_exact, body_clauses = _required_strings(av[2])  # the body matches at least once
            inner = [frozenset([body_exact])] if body_exact else body_clauses
        # Anything else (classes, anchors, lookarounds, optional parts) requires nothing and ends the run.
        if exact is not None:
            run.extend(exact)
            if whole is not None:
                whole.extend(exact)
            continue
        whole = None
        close_run()
        clauses.extend(inner)
    close_run()
    return ("".join(whole) if whole is not None else None), clauses


def _strength(clause: frozenset[str]) -> int:
    """How telling a set of strings is: its shortest string's length ("i" tells nothing)."""
    return min(map(len, clause), default=0)


def _matches_ascii(char: str) -> bool:
    """Whether some ASCII character matches char under re.I ("ſ" matches "s", the Kelvin sign "k")."""
    return any(re.fullmatch(re.escape(char), chr(c), re.I) for c in range(128))


def _ascii_clause(clause: frozenset[str]) -> frozenset[str] | None:
    """The set as lowercased ASCII sentences can hold it: strings with a letter no ASCII letter matches are left
    out (an empty set: the pattern cannot match ASCII text); None when a letter of it matches ASCII only under re.I
    folding (the set is not used)."""
    kept = set()
    for string in clause:
        if string.isascii():
            kept.add(string.lower())
        elif any(not c.isascii() and _matches_ascii(c) for c in string):
            return None
    return frozenset(kept)


def _ascii_clauses(pattern: str) -> tuple[frozenset[str], ...]:
    """The string sets of a refusal pattern for lowercased ASCII text, most telling first; () if unreadable."""
    try:
        _, clauses = _required_strings(_sre_parser.parse(pattern, re.I))
    except Exception:  # noqa: BLE001 - a parse this code does not follow only costs the gate, never a match
        return ()
    usable = {c for c in map(_ascii_clause, clauses) if c is not None}
    return tuple(sorted(usable, key=lambda c: (-_strength(c), sorted(c))))


REFUSAL_CLAUSES = tuple(_ascii_clauses(p) for p in REFUSAL_PATTERNS)
ALNUM_RUN_RE = re.compile(r"[a-z0-9]+")


def _key_pieces(clause: frozenset[str]) -> frozenset[str] | None:
    """Each string of a set cut to its longest run of letters and digits (a part of a required string is required
    too); None if a string has none. Such a piece lies within one run of letters and digits of any text holding it,
    so the runs of a sentence, each looked up once, tell which pieces it holds."""
    pieces = set()
    for string in clause:
        runs = ALNUM_RUN_RE.findall(string)
        if not runs:
            return None
        pieces.add(max(runs, key=len))
    return frozenset(pieces)


def _key_of(clauses: tuple[frozenset[str], ...]) -> frozenset[str] | None:
    """A pattern's most telling set of pieces, looked up by run (None: the pattern is always tried)."""
    keys = [k for k in map(_key_pieces, clauses) if k]
    return max(keys, key=_strength) if keys else None


# Each pattern's key pieces, indexed by piece; patterns without one are candidates for every sentence.
_KEY_PATTERNS: dict[str, list[int]] = {}
for _index, _clauses in enumerate(REFUSAL_CLAUSES):
    for _piece in _key_of(_clauses) or ():
        _KEY_PATTERNS.setdefault(_piece, []).append(_index)
_UNKEYED = frozenset(i for i, clauses in enumerate(REFUSAL_CLAUSES) if _key_of(clauses) is None)
_MEMO_LIMIT = 50_000
# ASCII → letters and digits kept (lowercased), everything else blanked: split() then yields the runs.
_ALNUM_BYTES = bytes(c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 or 48 <= c <= 57 else 32 for c in range(256))


class _RunPatterns(dict):
    """A run of letters and digits (bytes) → the patterns whose key pieces it holds."""

    def __missing__(self, run: bytes) -> frozenset[int]:
        if len(self) >= _MEMO_LIMIT:
            self.clear()
        text = run.decode("ascii")
        value = self[run] = frozenset(i for piece, found in _KEY_PATTERNS.items() if piece in text for i in found)
        return value


_RUN_PATTERNS = _RunPatterns()


def refusal_pattern_for(sentence: str) -> re.Pattern[str] | None:
    """The refusal alternation to run on a sentence: for ASCII text only the patterns whose strings it holds
    (None when no pattern can match); REFUSAL_RE itself otherwise."""
    if not sentence.isascii():
        return REFUSAL_RE
    possible = _possible_patterns(sentence)
    return _refusal_alternation(possible) if possible else None


def _possible_patterns(text: str) -> tuple[int, ...]:
    """The indices of the refusal patterns whose string sets ASCII text holds, in order."""
    candidates = set(_UNKEYED)
    for run in set(text.encode("ascii").translate(_ALNUM_BYTES).split()):
        found = _RUN_PATTERNS[run]
        if found:
            candidates |= found
    if not candidates:
        return ()
    lowered = text.lower()
    return tuple(
        index
        for index in sorted(candidates)
        if all(any(map(lowered.__contains__, clause)) for clause in REFUSAL_CLAUSES[index])
    )


@lru_cache(maxsize=256)
def _refusal_alternation(indices: tuple[int, ...]) -> re.Pattern[str]:
    """REFUSAL_RE with only the patterns at indices, in their order (the same matches wherever the rest fail)."""
    if len(indices) == len(REFUSAL_PATTERNS):
        return REFUSAL_RE
    return re.compile(r"(?<!\w)(?=\w)(?:" + "|".join(f"(?:{REFUSAL_PATTERNS[i][2:]})" for i in indices) + ")", re.I)


# Words before a refusal phrase in the same sentence that mean it is reported, not said ("the bot replies I cannot…").
REPORTED_RE = re.compile(
    r"\b(?:says?|said|repl(?:y|ies|ied)|respond(?:s|ed)?|message|error|returns?|returned|shows?|showed|displays?|"
    r"prints?|outputs?|reads?|warning|prompt(?:s|ed)?|tells? you|told you|popup|dialog|banner)\b[^.!?\n]{0,40}$",
    re.I,
)
# A pivot to helpful content after the refusal clause.
PIVOT_RE = re.compile(
    r"\b(?:but|however|that said|instead|although|alternatively|in the meantime|meanwhile)\b[^.!?\n]{0,60}?"
    r"\b(?:you can|you could|you may|you might|you should|you'll|you will|I can|I could|here(?:'s| is| are)|try|"
    r"consider|the (?:best|easiest|usual) way|some general|general information|in general|generally)\b"
    r"|\bhere(?:'s| is| are)\b|\b(?:steps?|options?|alternatives?)\b\s*(?::|include|are)"
    r"|\bto (?:do|fix|reset|change|update|check|find|get|set) (?:this|that|it|your)\b|\byou (?:can|could)\b"
    r"|\b(?:pero|mais|aber|mas|ma|maar)\b[^.!?\n]{0,60}?\b(?:puedes|puede|vous pouvez|tu peux|können sie|kannst du|"
    r"você pode|puoi|può|kunt u|kun je)\b",
    re.I,
)
LIST_RE = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+\S", re.M)
# Closing pleasantries that add words without adding help.
FLUFF_RE = re.compile(
    r"let me know|feel free|happy to help|glad to help|here to help|anything else|other questions?|"
    r"is there (?:anything|something)|something else|hope (?:this|that) helps|don't hesitate|algo más|"
    r"autre question|andere frage|outra pergunta|altra domanda|thank you for understanding|I understand",
    re.I,
)
# Every refusal pattern contains one of these words; a sentence without any is skipped cheaply.
TRIGGER_WORDS = frozenset(
    """not can't cannot cant couldn't won't unable don't sorry apologize apologise apologies regret afraid decline
    refuse refrain against violate violates violating conflict conflicts outside ai llm model intelligence policy
    policies no siento disculpa disculpe perdón lamentablemente lamento debo contra ia ne désolé désolée navré
    navrée tant dois contraire encontre nicht leid entschuldigung bedaure leider ki sprachmodell künstliche
    ablehnen lage kein keine não desculpe sinto infelizmente non dispiace spiacente purtroppo scuso rifiutare
    niet spijt helaas geen taalmodel outside beyond only rather prefer isn't policy request question prompt ask
    violates goes fuera solo permitido autorizado autorizada posible políticas directrices normas impiden peux
    dépasse cadre dehors uniquement seulement autorisé autorisée habilité habilitée censé censée interdisent
    empêchent permettent kann außerhalb darf nur richtlinien vorgaben regeln fora só somente apenas permissão
    consigo impedem permitem fuori oltre esula soltanto unicamente autorizzato autorizzata consentito grado
    permettono consentono buiten alleen uitsluitend mag staat pass""".split()
)
# ASCII → the characters of WORD_RE's tokens (a-z, 0-9, the apostrophe) kept and the rest blanked, lowercased.
_ASCII_TOKEN_BYTES = bytes(
    c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 or 48 <= c <= 57 or c == 39 else 32 for c in range(256)
)
OPENING_CHARS = 1200
CJK_OPENING_CHARS = 200  # about three sentences of CJK text
# An e-mail address, phone number or link in a hand-off sentence makes it an answer ("call 0800 123 456").
CONTACT_DETAIL_RE = re.compile(r"\S+@\S+\.\w+|https?://|www\.|\+?\d[\d ()./-]{6,}\d")
CONTENT_FILTER_REASONS = frozenset(
    {"content_filter", "content_filtered", "safety", "blocklist", "prohibited_content", "recitation", "refusal"}
)


# Japanese, Chinese and Korean: no spaces between words, so these patterns have no \b and run on their own.
JAPANESE = [
    r"(?:申し訳|すみません|恐れ入りますが|残念ながら)[^。！？\n]{0,40}?(?:お答え|お手伝い|ご案内|対応|提供|回答|お応え|サポート|お調べ|共有|開示)"
    r"(?:すること|いたすこと)?(?:が|は|も)?(?:でき(?:ません|かねます)|いたしかねます|致しかねます|しかねます)",
    r"(?:お答え|お手伝い|ご案内|ご回答|回答|ご提供|提供|サポート|ご対応|対応)(?:すること|いたすこと)?(?:が|は)?"
    r"(?:でき(?:ません|かねます)|いたしかねます|致しかねます|しかねます)",
    r"(?:私|わたし|当アシスタント)の(?:対応|サポート|回答|お手伝いできる)?(?:範囲|領域)(?:外|を(?:超え|越え))",
    r"(?:対応|サポート|回答)(?:範囲|対象)外",
    r"AI(?:アシスタント|言語モデル)?として[^。！？\n]{0,30}?(?:できません|ありません|いたしかねます)",
    r"(?:ポリシー|ガイドライン|規約|方針)(?:上|により|によって|に(?:反する|違反する|基づき))[^。！？\n]{0,30}?(?:できません|いたしかねます|致しかねます|お答えでき)",
]
CHINESE = [
    r"(?:抱歉|对不起|對不起|很遗憾|很遺憾|不好意思)[^。！？\n]{0,30}?(?:我)?(?:无法|無法|不能|没办法|沒辦法|不便|不可以)"
    r"(?:为您|為您|为你|為你)?(?:帮助|幫助|帮忙|幫忙|协助|協助|回答|提供|满足|滿足|处理|處理|完成|透露|分享|讨论|討論|执行|執行)",
    r"我(?:无法|無法|不能|不便|没办法|沒辦法|不会|不會)(?:为您|為您|为你|為你|替你|替您)?(?:帮助|幫助|帮忙|幫忙|帮您|帮你|幫您|幫你|协助|協助|回答|"
    r"提供|满足|滿足|处理|處理|透露|分享|讨论|討論|执行|執行)",
    r"(?:超出|超過|超过|不在)(?:了)?我(?:的)?(?:能力|服务|服務|职责|職責|回答|能够帮助的|能幫助的|能帮助的)?(?:范围|範圍)",
    r"作为(?:一个|一款)?(?:AI|人工智能|语言模型|AI助手)|作為(?:一個)?(?:AI|人工智慧|語言模型)",
    r"(?:违反|違反|不符合)[^。！？\n]{0,12}?(?:政策|规定|規定|准则|準則|使用条款|使用條款|规范|規範)",
    r"(?:根据|根據|按照|出于|出於)[^。！？\n]{0,12}?(?:政策|规定|規定|安全(?:考虑|考慮)|隐私|隱私)[^。！？\n]{0,6}?我(?:无法|無法|不能|不便)",
    r"我只能(?:回答|协助|協助|帮助|幫助|处理|處理)",
]
KOREAN = [
    r"(?:도와|도움을 )(?:드릴|줄|드리기) 수(?:가|는)? 없",
    r"(?:답변(?:을|해)?|대답(?:을|해)?|안내(?:를|해)?|제공(?:을|해)?|처리(?:를|해)?|지원(?:을|해)?|알려) ?(?:드릴|드리기|줄|할) 수(?:가|는)? 없",
    r"(?:응답|답변|응할)(?:할|을 할)? 수(?:가|는)? 없",
    r"(?:제|저의) (?:능력|권한|지원 범위|답변 범위|범위)(?:을|를|에서)? ?(?:벗어[나납난]|밖)",
    r"(?:지원|답변|도움|안내) 범위(?:를|을)? ?(?:벗어[나납난]|밖)",
    r"(?:AI|인공지능|언어 모델|AI 어시스턴트)(?:로서|이기 때문에|라서)[^.!?\n]{0,30}?(?:수 없|않|없습니다)",
    r"(?:정책|가이드라인|규정|이용 약관)(?:상|에 따라|에 의해|에 위배|을 위반|에 어긋)[^.!?\n]{0,30}?(?:수 없|어렵)",
    r"(?:만|에 대해서만) (?:도와|답변해|안내해) ?드릴 수 있",
]
CJK_RE = re.compile("|".join(f"(?:{p})" for p in JAPANESE + CHINESE + KOREAN), re.I)
CJK_CHAR_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
CJK_QUOTE_RE = re.compile(r"「[^」\n]*」|『[^』\n]*』")
CJK_SENTENCE_END_RE = re.compile(r"[。！？!?\n]+")
CJK_PIVOT_RE = re.compile(
    r"但是|不过|不過|但您可以|您可以|你可以|建议您|建議您|可以尝试|可以嘗試|以下是|步骤|步驟|ただし|代わりに|できます|方法|手順|以下|"
    r"하지만|대신|다만|수 있습니다|방법|단계|다음과"
)
CJK_FLUFF_RE = re.compile(
    r"其他问题|其他問題|还有什么|還有什麼|如有|随时|隨時|他に|ほかに|何かございましたら|お気軽に|ご了承|다른 질문|궁금한 점|언제든지|양해"
)

# Deflection: handing the user to someone else. A refusal only when it is (nearly) the whole answer.
DEFLECT_RE = re.compile(
    r"\b(?:please\s+)?(?:contact|reach out to|get in touch with|speak (?:to|with)|talk to|call|escalate (?:this|it) to|"
    r"(?:transfer|connect|put) you (?:to|with|through to))\s+(?:a |an |our |the |your )?(?:human|live|real|member of (?:our|the) )?"
    r"\s*(?:agent|representative|rep|support|customer (?:service|support|care)|support team|help ?desk|team|staff|"
    r"administrator|admin|operator|person|colleague|specialist|advisor)"
    r"|\b(?:contacta|contacte|comuníquese con|ponte en contacto con|póngase en contacto con|habla con|hable con)\s+"
    r"(?:con )?(?:un |una |el |nuestro |nuestra |al )?(?:agente|soporte|atención al cliente|servicio al cliente|humano|representante|asesor)"
    r"|\b(?:contactez|veuillez contacter|adressez-vous à|contacte)\s+(?:un |une |le |la |notre |l')?(?:agent|support|service client|"
    r"conseill|humain|équipe)"
    r"|\b(?:wenden sie sich (?:bitte )?an|kontaktieren sie (?:bitte )?|wende dich (?:bitte )?an)\s+(?:einen |eine |den |die |unseren |unsere )?"
    r"(?:mitarbeiter|support|kundendienst|kundenservice|menschlichen|kundenberater|berater|ansprechpartner)"
    r"|\b(?:entre em contato com|contate|fale com|procure)\s+(?:um |uma |o |a |nosso |nossa )?(?:atendente|suporte|agente|atendimento|"
    r"equipe|representante)"
    r"|\b(?:contatta|contatti|contattare|si rivolga a|rivolgiti a|rivolgersi a)\s+(?:un |una |il |l'|lo |la |al |all')?(?:operatore|assistenza|"
    r"supporto|servizio clienti|consulente|team)"
    r"|\bneem (?:contact op met|contact met|dan contact op met)\s+(?:een |de |onze )?(?:klantenservice|medewerker|support|helpdesk)"
    r"|(?:担当者|オペレーター|カスタマーサポート|サポート窓口|お客様窓口|サポートセンター)(?:まで|に|へ)(?:お問い合わせ|ご連絡|ご相談)"
    r"|(?:联系|聯繫|聯絡|联络)(?:人工客服|客服|人工|工作人员|工作人員|管理员|管理員|支持团队)|转人工|轉人工"
    r"|(?:상담원|고객센터|담당자|고객 지원팀|고객지원팀)(?:에게|에|으로|로|과|와)? ?(?:문의|연락|연결)",
    re.I,
)
# Sentences that carry no help of their own around a deflection ("Sorry about that.", "Thanks for your patience.").
COURTESY_RE = re.compile(
    r"\b(?:sorry|apologi[sz]e|unfortunately|I understand|thank|thanks|lo siento|disculp|gracias|désolé|merci|"
    r"entschuldig|tut mir leid|leider|danke|desculp|obrigad|mi dispiace|grazie|het spijt|sorry|bedankt|helaas)\b"
    r"|申し訳|すみません|ありがとう|抱歉|对不起|對不起|谢谢|謝謝|죄송|감사",
    re.I,
)
# Beside a hand-off, a sentence that only says what cannot be done ("I'm not able to reset passwords over chat.")
# adds no help either: declining and handing off is a refusal.
DECLINE_RE = re.compile(
    r"\b(?:can't|cannot|can not|unable to|not able to|not allowed to|not permitted to|no puedo|no podemos|"
    r"ne (?:peux|pouvons) pas|kann (?:ich )?\w* ?nicht|não (?:posso|consigo)|non (?:posso|possiamo)|kan (?:ik )?\w* ?niet)\b"
    r"|できません|无法|無法|不能|수 없",
    re.I,
)
# Every DEFLECT_RE match contains one of these; substring tests skip the regex on almost every answer.
DEFLECT_HINTS = (
    "contact", "reach out", "touch with", "speak", "talk to", "call", "escalate", "transfer", "connect", "put you",
    "contacta", "contacte", "comuníquese", "habla", "hable", "wenden", "wende dich", "kontaktier", "entre em",
    "contate", "fale com", "procure", "contatt", "rivolg", "neem", "問い合わせ", "ご連絡", "ご相談", "联系", "聯繫",
    "聯絡", "联络", "转人工", "轉人工", "문의", "연락", "연결",
)  # fmt: skip
DEFLECT_MAX_WORDS = 40
CONTENT_WORDS_AFTER_DEFLECT = 6


@dataclass(slots=True)
class RefusalVerdict:
    """What the refusal detector found."""

    kind: str  # "refusal", "partial_refusal", "answer" or "unknown_language"
    phrase: str = ""  # the refusal phrase, or the language's name for unknown_language
    words_after: int = 0
    language: str = ""


# detect_refusal's options by default (opening_sentences, short_answer_words, partial_min_words): its signature
# reads them from here, so the refusal check's "defaults asked" test and the shared analysis cannot drift apart.
DETECT_DEFAULTS = (3, 60, 10)


def detect_refusal(
    text: str,
    *,
    opening_sentences: int = DETECT_DEFAULTS[0],
    short_answer_words: int = DETECT_DEFAULTS[1],
    partial_min_words: int = DETECT_DEFAULTS[2],
) -> RefusalVerdict:
    """Classify an answer as a refusal, a partial refusal (declines, then answers) or an answer."""
    text = normalise_apostrophes(text or "")
    if not text.strip():
        return RefusalVerdict("answer")
    # "More than short_answer_words words": splitting at most that many times + 1 answers it without a full split.
    is_long = len(text.split(None, short_answer_words + 1)) > short_answer_words
    # Text without spaces (Japanese, Chinese) has few "words" however long it is: cap it by characters too.
    is_long = is_long or len(text) > 2 * OPENING_CHARS
    # Only the opening of a long answer can hold its refusal, so mask and split just that part.
    region = text[:OPENING_CHARS] if is_long else text
    masked_region = mask_quotes(region)
    sentences = split_sentences(masked_region, limit=opening_sentences if is_long else None)
    for sentence in sentences:
        # The big pattern is slow on Python's re; a word-set test skips sentences that cannot match.
        if not may_refuse(sentence.text):
            continue
        pattern = refusal_pattern_for(sentence.text)  # only the patterns whose plain strings the sentence holds
        if pattern is None:
            continue
        for match in pattern.finditer(sentence.text):
            if REPORTED_RE.search(sentence.text, 0, match.start()):
                continue  # "the app shows I cannot…": reported, not the model's words
            masked = masked_region if region is text else mask_quotes(text)
            # Quote from the sentence start when the phrase begins near it ("I'm sorry, but…").
            start = sentence.start + (match.start() if match.start() > 25 else 0)
            clause_end = _clause_end(masked, sentence.start + match.end())
            phrase = text[start:clause_end].strip()
            helpful, pivot = _helpful_after(text, masked, clause_end)
            if helpful >= partial_min_words and pivot:
                return RefusalVerdict("partial_refusal", phrase, helpful)
            return RefusalVerdict("refusal", phrase, helpful)
    has_cjk = not region.isascii() and CJK_CHAR_RE.search(region) is not None
    if has_cjk and (verdict := _cjk_refusal(text, masked_region, partial_min_words)) is not None:
        return verdict
    if not is_long and (verdict := _deflection(masked_region, has_cjk)) is not None:
        return verdict
    if surely_supported(masked_region):
        return RefusalVerdict("answer")  # what detect_language's guess would leave it at
    language = detect_language(masked_region)
    if not language.supported:
        return RefusalVerdict("unknown_language", language.name, language=language.code)
    return RefusalVerdict("answer")


def may_refuse(sentence: str) -> bool:
    """Whether the sentence holds a trigger word among WORD_RE's tokens of it, lowercased (REFUSAL_RE is tried only
    then)."""
    if not sentence.isascii():
        return not TRIGGER_WORDS.isdisjoint(WORD_RE.findall(sentence.lower()))
    # WORD_RE's tokens of ASCII text: the runs of a-z, 0-9 and apostrophes, where only runs holding an apostrophe
    # need the pattern ("don't" stays whole, "'quoted'" loses its quotes); translate and split are C loops.
    raw = sentence.encode("ascii").translate(_ASCII_TOKEN_BYTES)
    tokens = set(raw.decode("ascii").split())
    if b"'" in raw:
        for run in [t for t in tokens if "'" in t]:
            tokens.discard(run)
            tokens.update(WORD_RE.findall(run))
    return not TRIGGER_WORDS.isdisjoint(tokens)


def _cjk_refusal(text: str, masked: str, partial_min_words: int) -> RefusalVerdict | None:
    """Find a Japanese, Chinese or Korean refusal in the opening; decide refusal or partial like the Latin path."""
    masked = CJK_QUOTE_RE.sub(lambda m: " " * len(m.group()), masked)  # 「quoted」 words are not the model's
    match = CJK_RE.search(masked, 0, CJK_OPENING_CHARS)
    if match is None:
        return None
    sentence_start = max(masked.rfind(mark, 0, match.start()) for mark in "。！？\n") + 1
    clause_end = _clause_end(masked, match.end())
    phrase = text[sentence_start:clause_end].strip()
    helpful = 0
    pivot = False
    for part in CJK_SENTENCE_END_RE.split(masked[clause_end:]):
        if not part.strip() or CJK_FLUFF_RE.search(part) or DEFLECT_RE.search(part):
            continue
        helpful += _cjk_units(part)
        pivot = pivot or bool(CJK_PIVOT_RE.search(part) or PIVOT_RE.search(part))
    pivot = pivot or bool(LIST_RE.search(masked[clause_end:])) or "```" in text[clause_end:]
    if helpful >= partial_min_words and pivot:
        return RefusalVerdict("partial_refusal", phrase, helpful)
    return RefusalVerdict("refusal", phrase, helpful)


def _cjk_units(text: str) -> int:
    """Count words in mixed text: a CJK character is about half a word, other words count once."""
    cjk = len(CJK_CHAR_RE.findall(text))
    return cjk // 2 + len(CJK_CHAR_RE.sub(" ", text).split()) if cjk else word_count(text)


def _deflection(masked: str, has_cjk: bool) -> RefusalVerdict | None:
    """Return a refusal when a short answer only hands the user to someone else ("Please contact a human agent.")."""
    lowered = masked.lower()
    if not any(hint in lowered for hint in DEFLECT_HINTS) or DEFLECT_RE.search(masked) is None:
        return None
    parts = (
        [p for p in CJK_SENTENCE_END_RE.split(masked) if p.strip()]
        if has_cjk
        else [s.text for s in split_sentences(masked)]
    )
    if sum(_cjk_units(p) for p in parts) > DEFLECT_MAX_WORDS:
        return None
    phrase = ""
    content = 0
    for part in parts:
        if DEFLECT_RE.search(part):
            if CONTACT_DETAIL_RE.search(part) or _cjk_units(part) > 25:
                return None  # an address, number or a long instruction is help, not a hand-off
            phrase = phrase or part.strip()
        elif not (
            COURTESY_RE.search(part) or FLUFF_RE.search(part) or CJK_FLUFF_RE.search(part) or DECLINE_RE.search(part)
        ):
            content += _cjk_units(part)
    if content >= CONTENT_WORDS_AFTER_DEFLECT:
        return None
    return RefusalVerdict("refusal", phrase)


def _clause_end(text: str, start: int) -> int:
    """Return the end of the clause containing start (at , ; . ! ? or newline, at most 120 chars on)."""
    limit = min(len(text), start + 120)
    for index in range(start, limit):
        if text[index] in ",;.!?\n。！？，、；":
            return index + 1
    return limit


def _helpful_after(text: str, masked: str, offset: int) -> tuple[int, bool]:
    """Return (words of guidance after offset, whether they pivot to help); pleasantries don't count, code does."""
    rest = masked[offset:]
    count = 0
    pivot = False
    for sentence in split_sentences(rest):
        if FLUFF_RE.search(sentence.text):
            continue
        count += word_count(sentence.text)
        pivot = pivot or bool(PIVOT_RE.search(sentence.text))
    if "```" in text[offset:]:
        count += word_count(text[offset:]) - word_count(rest)  # words hidden by code masking
        pivot = True
    return count, pivot or bool(LIST_RE.search(rest))


class RefusalCheck(Check):
    """Detect the model declining: 1.0 = refusal (fails), 0.5 = partial refusal (passes), 0.0 = answered.

    An answer in a language the patterns do not cover is "unknown_language" with passed None: not a pass.
    """

    kind = "refusal"
    # Bump when what the check decides changes: it is part of every refusal evaluator's version.
    logic_version = "2"  # 2: ja/zh/ko, soft and policy refusals, hand-offs, unknown_language
    # The value counts the refusal, so lower is better; its mean (a refusal rate) would restate the pass rate
    # upside down beside it, so pages show the pass rate only.
    value_direction = Direction.LOWER_IS_BETTER
    value_labels = ((1.0, "refused (fail)"), (0.5, "partly refused (pass)"), (0.0, "answered (pass)"))
    defaults = {
        "opening_sentences": 3,  # how many leading sentences may hold the refusal in a long answer
        "short_answer_words": 60,  # answers up to this many words are scanned in full
        "partial_min_words": 10,  # helpful words after the refusal that make it partial
    }

    def clean(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check the thresholds are whole numbers."""
        clean_int(config, "opening_sentences", minimum=1)
        clean_int(config, "short_answer_words")
        clean_int(config, "partial_min_words", minimum=1)
        return config

    def applies(self, subject: Subject, config: Mapping[str, Any]) -> bool:
        """Apply when there is an answer, or the provider filtered it."""
        return bool((subject.output or "").strip()) or _filtered(subject)

    def run(self, subject: Subject, config: Mapping[str, Any]) -> CheckResult:
        """Return 1.0/"refusal", 0.5/"partial_refusal" or 0.0/"answer"; "content_filter" when the provider blocked it."""
        config = self.with_defaults(config)
        if _filtered(subject):
            reason = subject.finish_reason.strip().lower()
            return finish(
                1.0, False, "content_filter",
                f"The provider's safety filter stopped the answer (finish_reason {reason!r}); "
                "look at the request for content the filter blocks.",
            )  # fmt: skip
        options = (config["opening_sentences"], config["short_answer_words"], config["partial_min_words"])
        if options == DETECT_DEFAULTS:
            verdict = answer_analysis(subject).refusal()  # shared with the citations check's uncited path
        else:
            verdict = detect_refusal(
                subject.output,
                opening_sentences=options[0],
                short_answer_words=options[1],
                partial_min_words=options[2],
            )
        if verdict.kind == "refusal":
            return finish(1.0, False, "refusal", f"The model declined: {clip(verdict.phrase, 160)!r}.")
        if verdict.kind == "partial_refusal":
            return finish(
                0.5, True, "partial_refusal",
                f"The model declined part of the request ({clip(verdict.phrase, 140)!r}) but went on to "
                f"help ({verdict.words_after} words of guidance follow).",
            )  # fmt: skip
        if verdict.kind == "unknown_language":
            covered = ", ".join(sorted(SUPPORTED))
            return finish(
                0.0, None, "unknown_language",
                f"The answer looks {verdict.phrase} ({verdict.language}); refusal patterns cover {covered}, "
                "so this check cannot tell whether the model declined.",
            )  # fmt: skip
        return finish(0.0, True, "answer", "No refusal phrase in the opening of the answer.")


def _filtered(subject: Subject) -> bool:
    """Return whether the last call ended on the provider's content filter."""
    return (subject.finish_reason or "").strip().lower() in CONTENT_FILTER_REASONS
