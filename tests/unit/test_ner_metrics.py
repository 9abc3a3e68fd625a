"""ner_report against seqeval's classification_report, number for number."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import classification_report as seqeval_report
from seqeval.scheme import IOB2, IOBES

from whet.metrics.classification import label_table
from whet.metrics.ner import ner_report

TYPES = ("PER", "LOC", "ORG")


@st.composite
def gold_and_pred(draw, prefixes: str, types: tuple[str, ...] = TYPES[:2]):
    """Sentences of random (often ill-formed) tags, the same lengths on both sides."""
    tags = ["O"] + [f"{p}-{t}" for p in prefixes for t in types]
    lengths = draw(st.lists(st.integers(0, 8), min_size=1, max_size=5).filter(any))
    sentence = lambda n: st.lists(st.sampled_from(tags), min_size=n, max_size=n)  # noqa: E731
    gold = [draw(sentence(n)) for n in lengths]
    pred = [draw(sentence(n)) for n in lengths]
    return gold, pred


def reference(gold, pred, **kwargs) -> dict:
    with warnings.catch_warnings():
        # seqeval warns on zero divisions and empty averages; those cases are compared too.
        warnings.simplefilter("ignore")
        return seqeval_report(gold, pred, output_dict=True, **kwargs)


def assert_matches_seqeval(ours: dict, theirs: dict) -> None:
    expected_types = sorted(k for k in theirs if not k.endswith(" avg"))
    assert list(ours["per_type"]) == expected_types
    rows = {**ours["per_type"], **{f"{a} avg": ours[a] for a in ("micro", "macro", "weighted")}}
    for name, row in rows.items():
        want = theirs[name]
        if not expected_types and name == "macro avg":
            # seqeval averages an empty array (NaN); whet reports 0.0 so the JSON stays valid.
            assert all(math.isnan(want[k]) for k in ("precision", "recall", "f1-score"))
            assert row == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
            continue
        # Exact equality on purpose: whet runs seqeval's arithmetic, not an approximation.
        assert row == {
            "precision": want["precision"],
            "recall": want["recall"],
            "f1": want["f1-score"],
            "support": want["support"],
        }, name
        assert all(type(v) in (float, int) for v in row.values())


@settings(max_examples=200, deadline=None)
@given(gold_and_pred("BIES", TYPES))
def test_default_mode_equals_seqeval(data):
    gold, pred = data
    assert_matches_seqeval(ner_report(gold, pred), reference(gold, pred))


@settings(max_examples=150, deadline=None)
@given(gold_and_pred("BI"))
def test_strict_iob2_equals_seqeval(data):
    gold, pred = data
    ours = ner_report(gold, pred, mode="strict", scheme="iob2")
    assert_matches_seqeval(ours, reference(gold, pred, mode="strict", scheme=IOB2))


@settings(max_examples=150, deadline=None)
@given(gold_and_pred("BIES"))
def test_strict_bioes_equals_seqeval(data):
    gold, pred = data
    ours = ner_report(gold, pred, mode="strict", scheme="bioes")
    assert_matches_seqeval(ours, reference(gold, pred, mode="strict", scheme=IOBES))


@settings(max_examples=50, deadline=None)
@given(gold_and_pred("BIES"))
def test_token_table_is_the_label_table_of_flattened_tags(data):
    gold, pred = data
    flat_gold = [t for s in gold for t in s]
    flat_pred = [t for s in pred for t in s]
    token = ner_report(gold, pred)["token"]
    assert token == label_table(flat_gold, flat_pred, sorted(set(flat_gold) | set(flat_pred)))
    assert token["accuracy"] == sum(g == p for g, p in zip(flat_gold, flat_pred)) / len(flat_gold)


def test_seqeval_documentation_example():
    gold = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    report = ner_report(gold, pred)
    assert report["per_type"] == {
        "MISC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "PER": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
    }
    for average in ("micro", "macro", "weighted"):
        assert report[average] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report["token"]["accuracy"] == 8 / 10
    o_row = report["token"]["per_class"]["O"]
    assert o_row == {"precision": 1.0, "recall": 0.8, "f1": pytest.approx(8 / 9), "support": 5}


def test_types_only_predicted_get_zero_support():
    report = ner_report([["B-PER", "O"]], [["B-PER", "B-LOC"]])
    assert report["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["micro"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}


@pytest.mark.parametrize(("gold", "pred", "scheme", "seqeval_scheme"), [
    # An entity opening with I-: the default reading counts it, strict IOB2 does not.
    ([["B-PER", "I-PER", "O", "B-LOC"]], [["I-PER", "I-PER", "O", "B-LOC"]], "iob2", IOB2),
    # A type change inside a chunk: the default reading splits it, strict IOB2 drops the orphan I-.
    ([["B-PER", "B-LOC", "O"]], [["B-PER", "I-LOC", "O"]], "iob2", IOB2),
    # IOB2-style predictions scored as BIOES: chunks that never close with E- count only by default.
    ([["B-PER", "E-PER", "O", "S-LOC"], ["S-ORG"]], [["B-PER", "I-PER", "O", "B-LOC"], ["S-ORG"]], "bioes", IOBES),
], ids=["opens-with-I", "type-change", "iob2-as-bioes"])
def test_strict_mode_differs_from_default_on_ill_formed_predictions(gold, pred, scheme, seqeval_scheme):
    default = ner_report(gold, pred)
    strict = ner_report(gold, pred, mode="strict", scheme=scheme)
    assert_matches_seqeval(default, reference(gold, pred))
    assert_matches_seqeval(strict, reference(gold, pred, mode="strict", scheme=seqeval_scheme))
    assert strict["micro"]["support"] == default["micro"]["support"]  # the gold tags are well formed
    assert strict["micro"]["f1"] < default["micro"]["f1"]


def test_no_entities_anywhere_reports_zeros():
    report = ner_report([["O", "O"]], [["O", "O"]])
    assert report["per_type"] == {}
    for average in ("micro", "macro", "weighted"):
        assert report[average] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["token"]["accuracy"] == 1.0


def test_length_mismatch_names_the_sentence():
    with pytest.raises(ValueError, match="sentence 1 has 3 gold tags but 2 predicted tags"):
        ner_report([["O"], ["O", "O", "O"]], [["O"], ["O", "O"]])
    with pytest.raises(ValueError, match="gold has 2 sentences but pred has 1"):
        ner_report([["O"], ["O"]], [["O"]])


def test_empty_input_is_rejected():
    with pytest.raises(ValueError, match="no tags to evaluate"):
        ner_report([], [])
    with pytest.raises(ValueError, match="no tags to evaluate"):
        ner_report([[]], [[]])


def test_strict_mode_errors_reach_the_caller():
    with pytest.raises(ValueError, match="strict entity mode needs a scheme"):
        ner_report([["O"]], [["O"]], mode="strict")
    with pytest.raises(ValueError, match="not valid in the IOB2 scheme"):
        ner_report([["S-PER"]], [["O"]], mode="strict", scheme="iob2")
