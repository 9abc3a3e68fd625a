"""Read NER data from JSON Lines: pre-split words with tags, or raw text with entity spans.

Each line is one of::

    {"tokens": ["EU", "rejects", "German", "call"], "tags": ["B-ORG", "O", "B-MISC", "O"]}
    {"text": "EU rejects German call", "entities": [{"start": 0, "end": 2, "label": "ORG"}]}
    {"text": "欧盟拒绝德国的呼吁", "label": {"organization": {"欧盟": [[0, 1]]}}}   (CLUENER2020, end inclusive)

Either form may name its ``document``; consecutive lines of one document give each other
context when the run sets ``data.context: document``.

Text is split into words with ``split_words`` (entity edges always fall on word edges) and
tagged in iob2; such sentences keep ``text`` and word ``offsets`` so predictions can be
mapped back to characters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from whet.data.cluener import cluener_entities
from whet.data.examples import TaggedSentence
from whet.data.text_files import json_records, read_text_file
from whet.data.schemes import check_tags
from whet.data.words import split_words
from whet.errors import DataError


def _sentence_from_tokens(record: dict[str, Any], where: str) -> TaggedSentence:
    tokens, tags = record["tokens"], record["tags"]
    if not isinstance(tokens, list) or not isinstance(tags, list):
        raise DataError(f"{where}: 'tokens' and 'tags' must be lists of strings")
    if not tokens:
        raise DataError(f"{where}: 'tokens' is empty; remove the line or give it tokens")
    for number, token in enumerate(tokens, start=1):
        if not isinstance(token, str):
            raise DataError(
                f"{where}: token {number} is {token!r}, not a string; "
                "tokens must be strings"
            )
        if not token.strip():
            raise DataError(
                f"{where}: token {number} is empty or whitespace; "
                "remove it and its tag"
            )
    if len(tokens) != len(tags):
        raise DataError(
            f"{where}: {len(tokens)} tokens but {len(tags)} tags; "
            "give one tag per token"
        )
    check_tags(tags, where)
    return TaggedSentence(tokens=list(tokens), tags=list(tags), source=where)


def _entity_spans(record: dict[str, Any], text: str, where: str) -> list[tuple[int, int, str]]:
    entities = record.get("entities", [])
    if not isinstance(entities, list):
        raise DataError(
            f"{where}: 'entities' must be a list of objects with start, end and label"
        )
    spans: list[tuple[int, int, str]] = []
    for number, entity in enumerate(entities, start=1):
        if not isinstance(entity, dict) or not {"start", "end", "label"} <= entity.keys():
            raise DataError(f"{where}: entity {number} must be an object with start, end and label")
        start, end, label = entity["start"], entity["end"], entity["label"]
        # bool is an int in Python, but true/false as an offset is surely a mistake.
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            raise DataError(
                f"{where}: entity {number} start and end must be whole numbers (character offsets)"
            )
        if not isinstance(label, str) or not label or any(c.isspace() for c in label):
            raise DataError(
                f"{where}: entity {number} label {label!r} must be a non-empty string "
                "without spaces"
            )
        if start >= end:
            raise DataError(
                f"{where}: entity {number} ({label} {start}-{end}) has start >= end; "
                f"end is exclusive, so one character at 3 is start 3, end 4"
            )
        if start < 0 or end > len(text):
            raise DataError(
                f"{where}: entity {number} ({label} {start}-{end}) is outside the text of length "
                f"{len(text)}; offsets count characters from 0 and end is exclusive"
            )
        spans.append((start, end, label))
    spans.sort()
    for (start_a, end_a, label_a), (start_b, end_b, label_b) in zip(spans, spans[1:]):
        if start_b < end_a:
            raise DataError(
                f"{where}: entities {label_a} {start_a}-{end_a} and {label_b} {start_b}-{end_b} "
                f"overlap; nested or overlapping entities are not supported, keep one of them"
            )
    return spans


def _sentence_from_text(record: dict[str, Any], where: str) -> TaggedSentence:
    text = record["text"]
    if not isinstance(text, str):
        raise DataError(f"{where}: 'text' must be a string, got {type(text).__name__}")
    if not text.strip():
        raise DataError(f"{where}: 'text' is empty; remove the line or give it text")
    spans = _entity_spans(record, text, where)
    offsets = split_words(text, [edge for start, end, _ in spans for edge in (start, end)])
    if not offsets:
        raise DataError(
            f"{where}: 'text' holds only invisible characters; "
            "remove the line or give it text"
        )
    tags = ["O"] * len(offsets)
    for start, end, label in spans:
        # The edges were cut, so each word is wholly inside or outside the entity. Whitespace
        # at the entity's edges belongs to no word and simply drops out.
        inside = [i for i, (s, e) in enumerate(offsets) if start <= s and e <= end]
        if not inside:
            raise DataError(
                f"{where}: entity {label} {start}-{end} covers only whitespace "
                f"({text[start:end]!r}); fix its offsets"
            )
        tags[inside[0]] = f"B-{label}"
        for i in inside[1:]:
            tags[i] = f"I-{label}"
    check_tags(tags, where)
    return TaggedSentence(
        tokens=[text[s:e] for s, e in offsets], tags=tags, source=where, text=text, offsets=offsets
    )


def document_id(record: dict[str, Any], where: str) -> str | None:
    """The record's optional ``document`` value (a string or whole number), as a string."""
    document = record.get("document")
    if document is None:
        return None
    if isinstance(document, bool) or not isinstance(document, (str, int)):
        raise DataError(f"{where}: 'document' must be a string or a whole number naming the sentence's document")
    return str(document)


def read_ner_jsonl(path: str | Path, encoding: str = "utf-8") -> list[TaggedSentence]:
    """Read a JSON Lines NER file.

    Args:
        path: The data file.
        encoding: Python codec name (``data.encoding``).

    Returns:
        One sentence per non-blank line, with ``source`` "path:line".

    Raises:
        DataError: The file is missing or cannot be decoded, a line is not a JSON object in
            one of the two forms, tokens and tags differ in length, an entity is out of
            range, empty or overlaps another, or the file holds no sentences.
    """
    text = read_text_file(path, encoding)
    sentences: list[TaggedSentence] = []
    for where, record in json_records(text, path):
        if "tokens" in record and "tags" in record:
            sentence = _sentence_from_tokens(record, where)
        elif "text" in record and isinstance(record.get("label"), dict):  # CLUENER2020, end inclusive
            entities = cluener_entities(record, where)
            sentence = _sentence_from_text({"text": record["text"], "entities": entities}, where)
        elif "text" in record:
            sentence = _sentence_from_text(record, where)
        else:
            raise DataError(
                f"{where}: expected {{\"tokens\": [...], \"tags\": [...]}} or "
                f"{{\"text\": \"...\", \"entities\": [...]}}; found keys {sorted(record)}"
            )
        sentence.document = document_id(record, where)
        sentences.append(sentence)
    if not sentences:
        raise DataError(f"{path}: no sentences found; write one JSON object per line")
    return sentences
