"""Label names read as words: ``card_arrival`` is "card arrival" in the zero-shot prompts and in
PET's default verbalizers, so both read a label the same way."""

from __future__ import annotations


def readable(name: str) -> str:
    """``card_arrival`` -> ``card arrival``: label names read as words in templates."""
    return " ".join(name.replace("_", " ").replace("-", " ").split())
