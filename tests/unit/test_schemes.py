from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whet.data.schemes import (
    SCHEMES,
    check_tags,
    convert_tags,
    detect_scheme,
    entity_spans,
    tags_from_spans,
)
from whet.errors import DataError

# One sentence in every scheme: touching entities of the same type, single-word entities,
# an entity right after one of another type, and O at both ends of an entity.
SENTENCE = {
    "iob2": ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG", "I-ORG", "O"],
    "iob1": ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG", "I-ORG", "O"],
    "bioes": ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-ORG", "I-ORG", "E-ORG", "O"],
}
SPANS = [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5), ("ORG", 5, 8)]


@pytest.mark.parametrize("source", SCHEMES)
@pytest.mark.parametrize("target", SCHEMES)
def test_convert_tags_all_directions(source: str, target: str) -> None:
    assert convert_tags(SENTENCE[source], source, target) == SENTENCE[target]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_entity_spans_reads_every_scheme(scheme: str) -> None:
    assert entity_spans(SENTENCE[scheme]) == SPANS


@pytest.mark.parametrize("scheme", SCHEMES)
def test_tags_from_spans_writes_every_scheme(scheme: str) -> None:
    assert tags_from_spans(SPANS, 9, scheme) == SENTENCE[scheme]


def test_bilou_letters_are_read_as_bioes() -> None:
    tags = ["U-PER", "O", "B-LOC", "I-LOC", "L-LOC"]
    assert convert_tags(tags, "bioes", "bioes") == ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"]
    assert convert_tags(tags, "bioes", "iob2") == ["B-PER", "O", "B-LOC", "I-LOC", "I-LOC"]
    assert detect_scheme([tags]) == "bioes"


@pytest.mark.parametrize(
    ("tags", "spans"),
    [
        ([], []),
        (["O", "O"], []),
        (["I-PER", "I-PER"], [("PER", 0, 2)]),  # I- after the start begins an entity
        (["B-PER", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 2)]),  # I- of another type too
        (["O", "I-PER", "B-PER"], [("PER", 1, 2), ("PER", 2, 3)]),
        (["B-PER", "E-PER", "I-PER"], [("PER", 0, 2), ("PER", 2, 3)]),  # E- closes
        (["E-PER"], [("PER", 0, 1)]),
        (["B-WORK-OF-ART", "I-WORK-OF-ART"], [("WORK-OF-ART", 0, 2)]),  # hyphen in type
    ],
)
def test_entity_spans_lenient_reading(tags: list[str], spans: list[tuple[str, int, int]]) -> None:
    assert entity_spans(tags) == spans


def test_identity_conversion_normalises_stray_i() -> None:
    assert convert_tags(["I-PER", "O"], "iob2", "iob2") == ["B-PER", "O"]


@pytest.mark.parametrize(
    ("sequences", "scheme"),
    [
        ([], "iob2"),
        ([["O", "O"], []], "iob2"),
        ([["B-PER", "I-PER", "O"]], "iob2"),
        ([["I-PER", "I-PER", "O", "I-LOC"]], "iob1"),
        ([["I-PER", "B-PER", "O"], ["O", "I-LOC"]], "iob1"),
        # B- after O is not iob1's use of B-, so this mix is read as (lenient) iob2.
        ([["I-PER", "O"], ["B-LOC", "O"]], "iob2"),
        ([["I-PER", "I-LOC"]], "iob1"),  # I- after another type begins an entity
        ([["B-PER", "E-PER"]], "bioes"),
        ([["O"], ["S-PER"]], "bioes"),
    ],
)
def test_detect_scheme(sequences: list[list[str]], scheme: str) -> None:
    assert detect_scheme(sequences) == scheme


def test_detect_scheme_accepts_a_generator() -> None:
    assert detect_scheme(tags for tags in [["O"], ["I-PER"]]) == "iob1"


def test_check_tags_accepts_valid_tags() -> None:
    check_tags(["O", "B-PER", "I-PER", "E-X", "S-X", "U-X", "L-X", "B-WORK-OF-ART"], "t.txt:1")


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("PER", r"t\.txt:7: tag 'PER' is not 'O' or PREFIX-TYPE .*write it like B-PER"),
        ("X-PER", r"t\.txt:7: tag 'X-PER' is not 'O' or PREFIX-TYPE"),
        ("o", r"t\.txt:7: tag 'o' is not 'O'"),
        ("", r"t\.txt:7: tag '' is not 'O'"),
        ("B-", r"t\.txt:7: tag 'B-' has no entity type after the prefix; write it like B-PER"),
        (5, r"t\.txt:7: tag 5 is not a string"),
    ],
)
def test_check_tags_errors(tag: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        check_tags(["O", tag], "t.txt:7")  # type: ignore[list-item]


def test_unknown_scheme_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown tagging scheme 'bilou'; use one of iob1, iob2, bioes"):
        convert_tags(["O"], "bilou", "iob2")


TYPES = st.sampled_from(["PER", "LOC", "ORG", "WORK-OF-ART"])


@st.composite
def iob2_sentences(draw: st.DrawFn) -> list[str]:
    """Valid iob2 tags built from runs of O and entities, which may touch."""
    tags: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        length = draw(st.integers(1, 4))
        if draw(st.booleans()):
            tags += ["O"] * length
        else:
            entity_type = draw(TYPES)
            tags += [f"B-{entity_type}"] + [f"I-{entity_type}"] * (length - 1)
    return tags


@settings(max_examples=200)
@given(iob2_sentences(), st.sampled_from(["iob1", "bioes"]))
def test_convert_round_trip(tags: list[str], via: str) -> None:
    converted = convert_tags(tags, "iob2", via)
    assert entity_spans(converted) == entity_spans(tags)
    assert convert_tags(converted, via, "iob2") == tags


@settings(max_examples=200)
@given(iob2_sentences(), st.sampled_from(SCHEMES))
def test_detect_scheme_recognises_converted_tags(tags: list[str], scheme: str) -> None:
    converted = convert_tags(tags, "iob2", scheme)
    # Without entities every scheme writes only O, which reads as iob2.
    expected = scheme if entity_spans(tags) else "iob2"
    assert detect_scheme([converted]) == expected
