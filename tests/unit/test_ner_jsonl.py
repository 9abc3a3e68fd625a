from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whet.data.ner_jsonl import read_ner_jsonl
from whet.data.schemes import entity_spans
from whet.errors import DataError


def write_lines(path: Path, *records: Any) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_tokens_form(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "train.jsonl",
        {"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]},
        "",
        "   ",
        {"tokens": ["Peter"], "tags": ["S-PER"], "id": 7},
    )
    sentences = read_ner_jsonl(path)
    assert [(s.tokens, s.tags, s.source) for s in sentences] == [
        (["EU", "rejects"], ["B-ORG", "O"], f"{path}:1"),
        (["Peter"], ["S-PER"], f"{path}:4"),
    ]
    assert sentences[0].text is None and sentences[0].offsets is None


def test_text_form_tags_words_in_iob2(tmp_path: Path) -> None:
    text = "EU rejects German call, says Peter Blackburn."
    path = write_lines(
        tmp_path / "train.jsonl",
        {
            "text": text,
            "entities": [
                {"start": 29, "end": 44, "label": "PER"},
                {"start": 0, "end": 2, "label": "ORG"},
                {"start": 11, "end": 17, "label": "MISC"},
            ],
        },
    )
    [sentence] = read_ner_jsonl(path)
    assert sentence.tokens == ["EU", "rejects", "German", "call", ",", "says", "Peter", "Blackburn", "."]
    assert sentence.tags == ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-PER", "I-PER", "O"]
    assert sentence.text == text
    assert sentence.offsets is not None
    assert [text[s:e] for s, e in sentence.offsets] == sentence.tokens


def test_text_form_without_entities_and_inside_words(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "train.jsonl",
        {"text": "nothing here"},
        {"text": "a pro-EU vote", "entities": [{"start": 6, "end": 8, "label": "ORG"}]},
        {"text": "我爱北京", "entities": [{"start": 2, "end": 4, "label": "LOC"}]},
        # Whitespace at an entity's edges belongs to no word and drops out.
        {"text": "in  Paris ", "entities": [{"start": 2, "end": 10, "label": "LOC"}]},
    )
    sentences = read_ner_jsonl(path)
    assert [(s.tokens, s.tags) for s in sentences] == [
        (["nothing", "here"], ["O", "O"]),
        (["a", "pro", "-", "EU", "vote"], ["O", "O", "O", "B-ORG", "O"]),
        (["我", "爱", "北", "京"], ["O", "O", "B-LOC", "I-LOC"]),
        (["in", "Paris"], ["O", "B-LOC"]),
    ]


def test_touching_entities_of_one_type_stay_apart(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "a.jsonl",
        {"text": "AB", "entities": [{"start": 0, "end": 1, "label": "X"}, {"start": 1, "end": 2, "label": "X"}]},
    )
    assert read_ner_jsonl(path)[0].tags == ["B-X", "B-X"]


ENTITY = {"start": 0, "end": 2, "label": "ORG"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"t\.jsonl:2: invalid JSON \(.* at column 2\); write one JSON object per line"),
        ('[{"tokens": ["a"]},', r"t\.jsonl:2: invalid JSON .*looks like one JSON array"),
        ("[1, 2]", r"t\.jsonl:2: expected a JSON object, got list"),
        ({"words": ["a"]}, r"t\.jsonl:2: expected \{\"tokens\": \[\.\.\.\], \"tags\": \[\.\.\.\]\} or .*found keys \['words'\]"),
        ({"tokens": ["a"]}, r"t\.jsonl:2: expected .*found keys \['tokens'\]"),
        ({"tokens": ["a", "b", "c", "d", "e"], "tags": ["O"] * 4}, r"t\.jsonl:2: 5 tokens but 4 tags"),
        ({"tokens": ["a", 3], "tags": ["O", "O"]}, r"t\.jsonl:2: token 2 is 3, not a string"),
        ({"tokens": ["a", " "], "tags": ["O", "O"]}, r"t\.jsonl:2: token 2 is empty or whitespace"),
        ({"tokens": [], "tags": []}, r"t\.jsonl:2: 'tokens' is empty"),
        ({"tokens": "a b", "tags": "O O"}, r"t\.jsonl:2: 'tokens' and 'tags' must be lists"),
        ({"tokens": ["a"], "tags": ["PER"]}, r"t\.jsonl:2: tag 'PER' is not 'O' or PREFIX-TYPE"),
        ({"text": 5}, r"t\.jsonl:2: 'text' must be a string, got int"),
        ({"text": ""}, r"t\.jsonl:2: 'text' is empty"),
        ({"text": " \n "}, r"t\.jsonl:2: 'text' is empty"),
        ({"text": "\u200b\u00ad"}, r"t\.jsonl:2: 'text' holds only invisible characters"),
        ({"text": "EU", "entities": {"start": 0}}, r"t\.jsonl:2: 'entities' must be a list"),
        ({"text": "EU", "entities": [{"start": 0, "end": 2}]}, r"t\.jsonl:2: entity 1 must be an object with start, end and label"),
        ({"text": "EU", "entities": [ENTITY, [0, 2, "ORG"]]}, r"t\.jsonl:2: entity 2 must be an object"),
        ({"text": "EU", "entities": [{"start": "0", "end": 2, "label": "ORG"}]}, r"t\.jsonl:2: entity 1 start and end must be whole numbers"),
        ({"text": "EU", "entities": [{"start": False, "end": 2, "label": "ORG"}]}, r"entity 1 start and end must be whole numbers"),
        ({"text": "EU", "entities": [{"start": 0, "end": 2, "label": ""}]}, r"t\.jsonl:2: entity 1 label '' must be a non-empty string"),
        ({"text": "EU", "entities": [{"start": 0, "end": 2, "label": "A B"}]}, r"entity 1 label 'A B' must be a non-empty string without spaces"),
        ({"text": "EU", "entities": [{"start": 2, "end": 2, "label": "ORG"}]}, r"t\.jsonl:2: entity 1 \(ORG 2-2\) has start >= end; end is exclusive"),
        ({"text": "EU", "entities": [{"start": 0, "end": 3, "label": "ORG"}]}, r"t\.jsonl:2: entity 1 \(ORG 0-3\) is outside the text of length 2"),
        ({"text": "EU", "entities": [{"start": -1, "end": 1, "label": "ORG"}]}, r"entity 1 \(ORG -1-1\) is outside the text"),
        (
            {"text": "New York", "entities": [{"start": 4, "end": 8, "label": "LOC"}, {"start": 0, "end": 5, "label": "ORG"}]},
            r"t\.jsonl:2: entities ORG 0-5 and LOC 4-8 overlap; nested or overlapping entities are not supported",
        ),
        ({"text": "a  b", "entities": [{"start": 1, "end": 3, "label": "X"}]}, r"t\.jsonl:2: entity X 1-3 covers only whitespace"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, line: Any, message: str) -> None:
    path = write_lines(tmp_path / "t.jsonl", {"tokens": ["ok"], "tags": ["O"]}, line)
    with pytest.raises(DataError, match=message):
        read_ner_jsonl(path)


@pytest.mark.parametrize("text", ["", "\n \n"])
def test_no_sentences(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.jsonl: no sentences found"):
        read_ner_jsonl(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"gone\.jsonl not found"):
        read_ner_jsonl(tmp_path / "gone.jsonl")


def test_latin1_file(tmp_path: Path) -> None:
    path = tmp_path / "de.jsonl"
    path.write_bytes('{"text": "Müller", "entities": [{"start": 0, "end": 6, "label": "PER"}]}\n'.encode("latin-1"))
    with pytest.raises(DataError, match=r"de\.jsonl:1: .*data\.encoding: latin-1"):
        read_ner_jsonl(path)
    assert read_ner_jsonl(path, encoding="latin-1")[0].tags == ["B-PER"]


# Entity edges are visible characters; the middle and the gaps may hold anything.
EDGE = st.characters(categories=["L", "N", "P", "S"])
MIDDLE = st.text(st.one_of(st.characters(codec="utf-8"), st.sampled_from(list(" -'.北한"))), max_size=6)
GAP = st.text(st.sampled_from(list(" \n\t,.-'aZ9北あ\u200b")), max_size=5)
LABELS = st.sampled_from(["PER", "LOC", "WORK-OF-ART"])


@st.composite
def annotated_texts(draw: st.DrawFn) -> tuple[str, list[tuple[str, int, int]]]:
    text = ""
    spans = []
    for _ in range(draw(st.integers(0, 4))):
        text += draw(GAP)
        entity = draw(EDGE)
        if draw(st.booleans()):
            entity += draw(MIDDLE) + draw(EDGE)
        spans.append((draw(LABELS), len(text), len(text) + len(entity)))
        text += entity
    text += draw(GAP)
    if not spans:
        text += "x"  # a text needs at least one word
    return text, spans


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(annotated_texts())
def test_entity_spans_map_back_to_characters(tmp_path: Path, annotated: tuple[str, list[tuple[str, int, int]]]) -> None:
    text, spans = annotated
    entities = [{"start": start, "end": end, "label": label} for label, start, end in spans]
    path = write_lines(tmp_path / "r.jsonl", {"text": text, "entities": entities})
    [sentence] = read_ner_jsonl(path)
    assert sentence.offsets is not None and sentence.text == text
    assert sentence.tokens == [text[s:e] for s, e in sentence.offsets]
    recovered = [
        (label, sentence.offsets[first][0], sentence.offsets[last - 1][1])
        for label, first, last in entity_spans(sentence.tags)
    ]
    assert recovered == spans
