"""Language detection on short texts: scripts, function words, and too little to go on."""

from __future__ import annotations

import pytest

from apps.evaluators.checks.language import detect_language

SHORT_TEXTS = {
    "en": "Your parcel is on the way and should arrive by Friday.",
    "es": "Tu pedido está en camino y llegará el viernes.",
    "fr": "Votre colis est en route et arrivera vendredi.",
    "de": "Ihr Paket ist unterwegs und kommt am Freitag an.",
    "pt": "Seu pedido está a caminho e chega na sexta-feira.",
    "it": "Il tuo pacco è in viaggio e arriva venerdì.",
    "nl": "Je pakket is onderweg en komt vrijdag aan.",
    "ja": "お荷物は金曜日に届きます。",
    "zh": "您的包裹将于周五送达。",
    "ko": "택배는 금요일에 도착합니다.",
    "ru": "Ваша посылка будет доставлена в пятницу.",
    "uk": "Ваша посилка прибуде у п'ятницю, дякуємо.",
    "pl": "Twoja paczka jest w drodze i dotrze w piątek.",
    "tr": "Kargonuz yolda ve cuma günü teslim edilecek, teşekkür ederiz.",
    "ar": "سيصل طردك يوم الجمعة.",
    "hi": "आपका पार्सल शुक्रवार को पहुंचेगा।",
    "el": "Το δέμα σας θα φτάσει την Παρασκευή.",
    "th": "พัสดุของคุณจะมาถึงในวันศุกร์",
    "id": "Paket anda sedang dalam perjalanan dan tiba hari Jumat, terima kasih untuk kesabaran yang ada.",
}


@pytest.mark.parametrize("code", sorted(SHORT_TEXTS))
def test_detect_language_names_the_language_of_a_short_sentence(code: str):
    assert detect_language(SHORT_TEXTS[code]).code == code


@pytest.mark.parametrize("code", ["en", "es", "fr", "de", "pt", "it", "nl", "ja", "zh", "ko"])
def test_the_refusal_languages_are_supported(code: str):
    assert detect_language(SHORT_TEXTS[code]).supported


@pytest.mark.parametrize("code", ["ru", "pl", "ar", "hi", "th", "tr"])
def test_other_languages_are_not_supported(code: str):
    guess = detect_language(SHORT_TEXTS[code])
    assert not guess.supported
    assert guess.name and guess.name != "undetermined"


@pytest.mark.parametrize("text", ["OK", "42 €", "", "Yes.", '{"id": 7, "qty": 3}', "v2.3.1"])
def test_too_little_text_is_undetermined_and_counts_as_supported(text: str):
    guess = detect_language(text)
    assert guess.code == "und"
    assert guess.supported


def test_a_few_foreign_words_in_an_english_answer_stay_english():
    assert detect_language("In Russian, 'спасибо' means thank you and 'пожалуйста' means please.").code == "en"


def test_kana_decides_japanese_over_chinese_characters():
    assert detect_language("北京到上海乘高铁需要四个半小时。").code == "zh"
    assert detect_language("東京駅から新幹線で二時間です。").code == "ja"  # mostly kanji, but the kana decide


@pytest.mark.parametrize(
    "text",
    [
        "Turn on the router, then click on Settings.",
        "Take a break and a walk before you retry.",
        "Dan from billing sent a PDF to Ana in Porto.",
        "Open Settings > Sync and switch on backup now.",
    ],
)
def test_english_with_words_other_languages_share_stays_covered(text: str):
    assert detect_language(text).supported


def test_surely_supported_only_when_the_guess_is_covered():
    """The refusal check's shortcut answers True only where detect_language's guess is a covered language or "und":
    random ASCII word mixes of every language's function words, upper- and lowercased, with punctuation."""
    import random

    from apps.evaluators.checks.language import _WORD_LANGS, surely_supported

    rng = random.Random(5)
    words = [w for w in _WORD_LANGS if w.isascii()] + "account billing plan renew policy days 14".split()
    marks = ["", "", ".", ",", "!", "(", ")", '"', "'", "-", "..."]
    shortcuts = 0
    for _ in range(5_000):
        text = " ".join(rng.choice(marks) + rng.choice(words) + rng.choice(marks) for _ in range(rng.randint(0, 60)))
        text = text.upper() if rng.random() < 0.1 else text
        if surely_supported(text):
            shortcuts += 1
            assert detect_language(text).supported, text
    assert shortcuts and surely_supported(SHORT_TEXTS["en"]) and not surely_supported(SHORT_TEXTS["pl"])
