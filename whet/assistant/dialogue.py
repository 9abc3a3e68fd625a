"""Reading a customer's reply in the middle of a conversation: which offered intent it picks,
and the slot values a message gives.

Plain functions over text, so they are tested without a model.
"""

from __future__ import annotations

import re

from whet.assistant.answers import Slot

ORDINALS = {0: ("first", "1", "former", "1st", "top"), 1: ("second", "2", "two", "latter", "2nd", "other")}
DECLINES = ("no", "neither", "none", "nope", "nothing", "something else", "not those", "none of them",
            "neither of them", "wrong", "not really")


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def chosen_option(text: str, options: list[str], titles: dict[str, str]) -> str | None:
    """The offered intent a reply picks: by its place ("the second one", "2"), its name or its
    title; None when it picks none of them (or several)."""
    words = _words(text)
    lowered = " ".join(words)
    named = [option for option in options
             if _phrase_in(option.replace("_", " ").lower(), lowered) or _phrase_in(titles[option].lower(), lowered)]
    if len(named) == 1:
        return named[0]
    if named:
        return None
    # Short replies only: "the second one", "option 2"; not "my second card was stolen".
    if len(words) <= 4:
        picked = [i for i, forms in ORDINALS.items() if i < len(options) and any(form in words for form in forms)]
        if len(picked) == 1:
            return options[picked[0]]
    return None


def declines(text: str) -> bool:
    """A reply saying none of the offered intents is meant."""
    lowered = " ".join(_words(text))
    return lowered in DECLINES or any(lowered.startswith(phrase + " ") for phrase in ("no", "neither", "none"))


def _phrase_in(phrase: str, text: str) -> bool:
    words = " ".join(_words(phrase))
    return bool(words) and re.search(rf"\b{re.escape(words)}\b", text) is not None


def slot_values(slots: dict[str, Slot], text: str, entities: list[dict]) -> dict[str, str]:
    """Values the message gives for ``slots``: the first entity of a slot's type, else its
    pattern's first group (or whole match)."""
    values = {}
    for name, slot in slots.items():
        if slot.entity is not None:
            found = next((e["text"] for e in entities if e["type"] == slot.entity), None)
            if found:
                values[name] = found
                continue
        if slot.pattern is not None:
            match = re.search(slot.pattern, text, flags=re.IGNORECASE)
            if match:
                values[name] = (match.group(1) if match.groups() and match.group(1) else match.group(0)).strip()
    return values
