"""The CLUENER2020 form of NER JSON lines (Xu et al., 2020, arXiv:2001.04351): reading its
labels as entity spans, and writing predictions in it.

One record a line, offsets in characters with the end **inclusive**::

    {"text": "浙商银行企业信贷部叶老桂博士", "label": {"company": {"浙商银行": [[0, 3]]}, "name": {"叶老桂": [[9, 11]]}}}

``whet.data.ner_jsonl`` recognises the form (``text`` and a ``label`` object) and tags the
text from the spans given here, like its own ``entities`` form: each CJK character is a word
of its own (``whet.data.words``), so predictions map back to character spans.
"""

from __future__ import annotations

import logging
from typing import Any

from whet.errors import DataError

log = logging.getLogger("whet")


def _is_offset(value: Any) -> bool:
    # bool is an int in Python, but true/false as an offset is surely a mistake.
    return isinstance(value, int) and not isinstance(value, bool)


def _mention_spans(label: str, mention: str, pairs: Any, text: str, where: str) -> list[tuple[int, int, str]]:
    shape = f'"{label}": {{"{mention}": [[start, end], ...]}} with end inclusive'
    if not isinstance(pairs, list) or not pairs:
        raise DataError(f"{where}: {label} mention {mention!r} must map to a list of [start, end] pairs; write {shape}")
    spans = []
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and all(_is_offset(v) for v in pair)):
            raise DataError(f"{where}: {label} mention {mention!r} has {pair!r}, not a [start, end] pair of "
                            f"whole numbers; write {shape}")
        start, end = pair
        if end < start:
            raise DataError(f"{where}: {label} mention {mention!r} at [{start}, {end}] ends before it starts; "
                            f"end is inclusive: one character at 3 is [3, 3]")
        if start < 0 or end >= len(text):
            raise DataError(f"{where}: {label} mention {mention!r} at [{start}, {end}] is outside the text of "
                            f"length {len(text)}; offsets count characters from 0 and end is inclusive")
        if text[start:end + 1] != mention:
            found = text[start:end + 1]
            at = text.find(mention)
            hint = (f"it occurs at [{at}, {at + len(mention) - 1}]" if at >= 0
                    else "it does not occur in the text")
            raise DataError(f"{where}: {label} mention {mention!r} at [{start}, {end}] reads {found!r} in the text; "
                            f"{hint}; fix the offsets (end is inclusive) or the mention")
        spans.append((start, end + 1, label))
    return spans


def _without_overlaps(spans: list[tuple[int, int, str]], where: str) -> list[tuple[int, int, str]]:
    """Each overlap reported; the longer span kept (the earlier one on a tie). The published
    train.json nests one company inside a book title, and refusing the file would leave it unusable."""
    kept: list[tuple[int, int, str]] = []
    for span in sorted(set(spans), key=lambda s: (s[0] - s[1], s[0], s[2])):
        clash = next((k for k in kept if span[0] < k[1] and k[0] < span[1]), None)
        if clash is None:
            kept.append(span)
            continue
        log.warning("%s: entities %s [%d, %d] and %s [%d, %d] overlap; nested entities are not supported, "
                    "keeping %s (the longer)", where, clash[2], clash[0], clash[1] - 1, span[2], span[0],
                    span[1] - 1, clash[2])
    return sorted(kept)


def cluener_entities(record: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The entities of a CLUENER2020 record as ``{"start", "end", "label"}``, end exclusive.

    Args:
        record: A parsed line with ``text`` and ``label``.
        where: "file:line" for messages.

    Returns:
        The entities in text order; of two overlapping ones the longer, with a warning.

    Raises:
        DataError: ``label`` is not ``{type: {mention: [[start, end], ...]}}``, an offset is out of
            the text, or a span's text differs from its mention.
    """
    text, labels = record.get("text"), record["label"]
    if not isinstance(text, str):
        raise DataError(f"{where}: 'text' must be a string, got {type(text).__name__}")
    spans = []
    for label, mentions in labels.items():
        if not label or any(c.isspace() for c in label):
            raise DataError(f"{where}: entity type {label!r} must be a non-empty string without spaces")
        if not isinstance(mentions, dict):
            raise DataError(f'{where}: label "{label}" must map mentions to spans: '
                            f'{{"{label}": {{"MENTION": [[start, end], ...]}}}} with end inclusive')
        for mention, pairs in mentions.items():
            spans += _mention_spans(label, mention, pairs, text, where)
    return [{"start": s, "end": e, "label": label} for s, e, label in _without_overlaps(spans, where)]


def cluener_record(prediction: dict[str, Any]) -> dict[str, Any]:
    """A token-classification prediction (``whet predict``'s record) in CLUENER2020 form.

    ``{"text", "entities": [{"type", "start", "end", ...}]}`` with end exclusive becomes
    ``{"text", "label": {type: {mention: [[start, end], ...]}}}`` with end inclusive; an ``id``
    stays first. Entity scores are dropped: the form has no place for them.

    Raises:
        DataError: The prediction has no character offsets (its input was pre-split tokens).
    """
    labels: dict[str, dict[str, list[list[int]]]] = {}
    for entity in prediction["entities"]:
        if "start" not in entity:
            raise DataError("CLUENER output needs character offsets, which predictions on pre-split 'tokens' "
                            "do not have; give the inputs as text")
        mention = prediction["text"][entity["start"]:entity["end"]]
        labels.setdefault(entity["type"], {}).setdefault(mention, []).append([entity["start"], entity["end"] - 1])
    record = {"id": prediction["id"]} if "id" in prediction else {}
    record.update(text=prediction["text"], label=labels)
    return record
