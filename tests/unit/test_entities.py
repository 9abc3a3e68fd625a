"""entity_spans against seqeval's own chunkers, on random and hand-picked tag sequences."""

from __future__ import annotations

import sys
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, IOBES, Tokens

from whet.metrics.entities import entity_spans

TYPES = ("PER", "LOC", "ORG")


def tag_lists(prefixes: str, max_size: int = 14) -> st.SearchStrategy[list[str]]:
    tags = ["O"] + [f"{p}-{t}" for p in prefixes for t in TYPES[:2]] + [f"{p}-ORG" for p in prefixes[:1]]
    return st.lists(st.sampled_from(tags), max_size=max_size)


def seqeval_lenient(tags: list[str]) -> list[tuple[str, int, int]]:
    # get_entities has an inclusive end; entity_spans an exclusive one.
    return [(type_, start, end + 1) for type_, start, end in get_entities(tags)]


def seqeval_strict(tags: list[str], scheme) -> list[tuple[str, int, int]]:
    return [(e.tag, e.start, e.end) for e in Tokens(tags, scheme).entities]


@settings(max_examples=400, deadline=None)
@given(tag_lists("BIES"))
def test_default_mode_matches_seqeval_get_entities(tags):
    assert entity_spans(tags) == seqeval_lenient(tags)


@settings(max_examples=300, deadline=None)
@given(tag_lists("BI"))
def test_strict_iob2_matches_seqeval(tags):
    assert entity_spans(tags, mode="strict", scheme="iob2") == seqeval_strict(tags, IOB2)


@settings(max_examples=400, deadline=None)
@given(tag_lists("BIES"))
def test_strict_bioes_matches_seqeval(tags):
    assert entity_spans(tags, mode="strict", scheme="bioes") == seqeval_strict(tags, IOBES)


@settings(max_examples=100, deadline=None)
@given(tag_lists("BIES").filter(lambda tags: any(t[0] in "ES" for t in tags)))
def test_strict_iob2_rejects_e_and_s_like_seqeval(tags):
    with pytest.raises(ValueError):
        seqeval_strict(tags, IOB2)
    with pytest.raises(ValueError, match="not valid in the IOB2 scheme"):
        entity_spans(tags, mode="strict", scheme="iob2")


@pytest.mark.parametrize(
    ("tags", "default", "strict_iob2"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)], [("PER", 0, 2), ("LOC", 3, 4)]),
        # IOB1: I- opens an entity; B- only separates two adjacent entities of one type.
        (["I-PER", "I-PER", "B-PER", "O"], [("PER", 0, 2), ("PER", 2, 3)], [("PER", 2, 3)]),
        # A type change inside a run splits it in lenient mode; strict drops the orphan I-.
        (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 3)], [("PER", 0, 1)]),
        (["O", "O"], [], []),
        ([], [], []),
        (["B", "I", "O"], [("_", 0, 2)], [("_", 0, 2)]),
    ],
)
def test_hand_worked_examples(tags, default, strict_iob2):
    assert entity_spans(tags) == default
    assert entity_spans(tags, "strict", "iob2") == strict_iob2


@pytest.mark.parametrize(
    ("tags", "default", "strict"),
    [
        (["S-PER", "B-LOC", "I-LOC", "E-LOC"], [("PER", 0, 1), ("LOC", 1, 4)], [("PER", 0, 1), ("LOC", 1, 4)]),
        # An entity that never closes with E- is not one in strict BIOES.
        (["B-LOC", "I-LOC", "O", "S-PER"], [("LOC", 0, 2), ("PER", 3, 4)], [("PER", 3, 4)]),
        (["B-LOC", "E-LOC", "E-LOC"], [("LOC", 0, 2), ("LOC", 2, 3)], [("LOC", 0, 2)]),
    ],
)
def test_hand_worked_bioes_examples(tags, default, strict):
    assert entity_spans(tags) == default
    assert entity_spans(tags, mode="strict", scheme="bioes") == strict
    assert entity_spans(tags, mode="strict", scheme="IOBES") == strict


def test_odd_type_names_parse_like_seqeval():
    tags = ["B-PER-X", "I-PER-X", "B-", "O", "B-A-", "I-A"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert entity_spans(tags) == seqeval_lenient(tags)
        assert entity_spans(tags, "strict", "iob2") == seqeval_strict(tags, IOB2)


@pytest.mark.parametrize("tag", ["U-PER", "L-PER", "BPER", "", "O-PER", "X"])
def test_tags_outside_bieso_are_rejected(tag):
    with pytest.raises(ValueError, match="convert BILOU first"):
        entity_spans(["O", tag])


def test_unknown_mode_and_scheme_are_rejected():
    with pytest.raises(ValueError, match="unknown entity mode 'lenient'"):
        entity_spans(["O"], mode="lenient")
    with pytest.raises(ValueError, match="strict entity mode needs a scheme"):
        entity_spans(["O"], mode="strict")
    with pytest.raises(ValueError, match="unknown tag scheme 'iob1'"):
        entity_spans(["O"], mode="strict", scheme="iob1")


def test_scheme_is_ignored_in_default_mode_as_in_seqeval():
    assert entity_spans(["I-PER"], scheme="iob2") == [("PER", 0, 1)]


def lines_run(tags: list[str], mode: str, scheme: str | None) -> int:
    """Lines of whet.metrics.entities that one entity_spans call runs: its work counted, not timed."""
    from whet.metrics import entities

    entity_spans(tags, mode, scheme)  # warm the tag cache, so that every counted call does the same
    count = 0

    def trace(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename != entities.__file__:
            return None
        count += event == "line"
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        entity_spans(tags, mode, scheme)
    finally:
        sys.settrace(previous)
    return count


@pytest.mark.parametrize(("pattern", "mode", "scheme"), [
    (["B-PER", "I-PER", "E-PER", "O", "S-LOC", "I-ORG"], "default", None),
    (["B-PER", "I-PER", "E-PER", "O", "S-LOC", "I-ORG"], "strict", "bioes"),
    (["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-ORG"], "strict", "iob2"),
])
def test_work_grows_linearly_with_the_number_of_tags(pattern, mode, scheme):
    work = [lines_run(pattern * n, mode, scheme) for n in (100, 200, 300)]
    # A linear pass spends the same on each repetition of the pattern, however many came before.
    assert work[2] - work[1] == work[1] - work[0] > 0
    assert len(entity_spans(pattern * 300, mode, scheme)) == 300 * len(entity_spans(pattern, mode, scheme))
