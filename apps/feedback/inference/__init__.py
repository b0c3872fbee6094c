"""Implicit feedback inferred from sessions: regenerate, rephrase and abandon (issue 8).

`session_signals_infer` (services.py) is the entry point; detectors.py holds the pure detectors, text.py the
lexical reading, embeddings.py the embeddings similarity, evaluation.py the labelled set's figures.
"""
