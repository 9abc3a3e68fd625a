"""Question answering: answers mapped into strided windows, and span decoding on hand-made logits."""

from __future__ import annotations

import numpy as np
import pytest

from whet.config import DataConfig
from whet.data.examples import Answer, QAExample
from whet.errors import DataError
from whet.tasks.question_answering import TASK, Span, answer_token_span, choose_answer, window_spans

WORDS = "red blue green cat dog house tree river stone bird".split()  # one WordPiece token each


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from whet.models.pretrained import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("builtin:minilm"))


def example_with_answer(words: list[str], first: int, last: int) -> QAExample:
    """A context of ``words`` whose answer is words ``first`` to ``last`` (inclusive)."""
    context = " ".join(words)
    start = len(" ".join(words[:first])) + (1 if first else 0)
    text = " ".join(words[first:last + 1])
    assert context[start:start + len(text)] == text
    return QAExample(question="Where?", context=context, answers=[Answer(text, start)], source="test:1")


def answer_in(feature: dict, tokenizer) -> str:
    s, e = feature["start_positions"], feature["end_positions"]
    return "[CLS]" if (s, e) == (feature["cls_index"], feature["cls_index"]) else tokenizer.decode(
        feature["input_ids"][s:e + 1])


def encode(examples, tokenizer, max_length=32, stride=8):
    return TASK.encode(examples, tokenizer=tokenizer, labels=["answer"], max_length=max_length, stride=stride,
                       data=DataConfig())


def test_answer_in_the_second_window_maps_there_and_the_first_points_at_cls(tokenizer):
    # "Where?" takes 2 tokens and [CLS] [SEP] [SEP] 3, so each 32-token window holds 27 context
    # tokens; with stride 8 the windows start at context tokens 0, 19, 38.
    words = WORDS * 5
    words[33:35] = ["porto", "lisbon"]
    features = encode([example_with_answer(words, 33, 34)], tokenizer)
    assert len(features) == 3
    assert [answer_in(f, tokenizer) for f in features] == ["[CLS]", "porto lisbon", "[CLS]"]
    second = features[1]
    # The token offsets point back into the context.
    start, end = second["offsets"][second["start_positions"]][0], second["offsets"][second["end_positions"]][1]
    assert " ".join(words)[start:end] == "porto lisbon"
    assert all(f["example"] == 0 and len(f["input_ids"]) <= 32 for f in features)


def test_answer_across_a_window_edge_maps_to_the_window_that_holds_it_whole(tokenizer):
    words = WORDS * 5
    features = encode([example_with_answer(words, 25, 28)], tokenizer)  # window 1 ends at token 26
    assert answer_in(features[0], tokenizer) == "[CLS]"
    assert answer_in(features[1], tokenizer) == " ".join(words[25:29])


def test_answer_longer_than_the_overlap_goes_to_cls_in_every_window(tokenizer):
    words = WORDS * 5
    features = encode([example_with_answer(words, 24, 29)], tokenizer, stride=2)  # windows at 0, 25, 50
    assert [answer_in(f, tokenizer) for f in features] == ["[CLS]"] * len(features)


def test_unanswerable_questions_point_at_cls_and_prediction_inputs_have_no_positions(tokenizer):
    unanswerable = QAExample(question="Why?", context="The river is blue.", answers=[], source="t:1")
    to_predict = QAExample(question="Why?", context="The river is blue.", answers=None, source="t:2")
    first, second = encode([unanswerable, to_predict], tokenizer)
    assert (first["start_positions"], first["end_positions"]) == (0, 0) and first["input_ids"][0] == 101
    assert "start_positions" not in second
    # Only context tokens carry offsets: [CLS] why ? [SEP] the river is blue . [SEP]
    assert [o is not None for o in second["offsets"]] == [False] * 4 + [True] * 5 + [False]


def test_a_question_longer_than_half_the_window_is_refused(tokenizer):
    long_question = QAExample(question=" ".join(WORDS * 2), context="red", answers=[], source="q.jsonl:4")
    with pytest.raises(DataError, match=r"q\.jsonl:4: the question is 20 tokens, more than half of the "
                                        r"32-token window; shorten it or raise data.max_length"):
        encode([long_question], tokenizer)


def test_answer_token_span_uses_character_offsets():
    offsets = [None, None, None, (0, 3), (4, 9), (9, 10), (11, 16), None]
    assert answer_token_span(offsets, 4, 10) == (4, 5)
    assert answer_token_span(offsets, 5, 9) == (4, 4)  # inside one token: that token
    assert answer_token_span(offsets, 11, 16) == (6, 6)
    assert answer_token_span(offsets, 11, 20) is None  # runs past the window's context


# --- decoding ------------------------------------------------------------------------------------

# [CLS] q q [SEP] c0 c1 c2 c3 [SEP]: context tokens at positions 4-7, characters 0-3, 4-8, 9-12, 13-18
OFFSETS = [None, None, None, None, (0, 3), (4, 8), (9, 12), (13, 18), None]


def logits(start: dict[int, float], end: dict[int, float], size: int = 9) -> tuple[np.ndarray, np.ndarray]:
    s, e = np.zeros(size), np.zeros(size)
    for i, v in start.items():
        s[i] = v
    for i, v in end.items():
        e[i] = v
    return s, e


def test_n_best_pairs_skip_question_tokens_reversed_and_overlong_spans():
    # The best start logit sits on a question token (1), and the best end (4) lies before start 5.
    s, e = logits({1: 9.0, 5: 5.0, 4: 0.5}, {4: 8.0, 6: 4.0, 7: 3.0})
    spans = window_spans(s, e, OFFSETS, n_best=3, max_answer_length=30)
    # Starts 5 and 4 pair with ends 4, 6, 7; start 1 (question) pairs with nothing; 5-4 is reversed.
    assert {(x.start, x.end): x.score for x in spans} == {(4, 12): 9.0, (4, 18): 8.0, (0, 3): 8.5,
                                                           (0, 12): 4.5, (0, 18): 3.5}
    # Only 2 tokens allowed: the span 5-7 (3 tokens) and 4-6 are dropped, 5-6 stays.
    short = window_spans(s, e, OFFSETS, n_best=3, max_answer_length=2)
    assert {(x.start, x.end) for x in short} == {(4, 12), (0, 3)}
    # n_best=1 pairs only the single best start (question token) with the single best end: nothing.
    assert window_spans(s, e, OFFSETS, n_best=1, max_answer_length=30) == []


def window(start: dict[int, float], end: dict[int, float]) -> tuple:
    s, e = logits(start, end)
    return s, e, OFFSETS, 0


def test_the_best_span_over_all_windows_wins():
    first = window({4: 2.0}, {4: 2.0})                      # "c0" scores 4
    second = window({5: 3.0}, {6: 3.0})                     # "c1 c2" scores 6
    span, probability = choose_answer([first, second], n_best=5, max_answer_length=30, allow_empty=False,
                                      null_score_threshold=0.0)
    assert (span.start, span.end, span.score) == (4, 12, 6.0)
    assert 0.5 < probability < 1.0


def test_null_threshold_decides_between_empty_and_best_span():
    # Null score: start + end logit at [CLS], the lowest over windows (10 here); best span 8.
    windows = [window({0: 6.0, 5: 4.0}, {0: 6.0, 5: 4.0}), window({0: 5.0, 5: 4.0}, {0: 5.0, 5: 4.0})]
    kwargs = {"n_best": 5, "max_answer_length": 30}
    empty, p_empty = choose_answer(windows, allow_empty=True, null_score_threshold=0.0, **kwargs)
    assert (empty.start, empty.end, empty.score) == (None, None, 10.0)
    span, p_span = choose_answer(windows, allow_empty=True, null_score_threshold=2.0, **kwargs)  # 10 - 8 = 2, not > 2
    assert (span.start, span.end) == (4, 8)
    assert p_span == pytest.approx(1 - p_empty, abs=0.02)  # the two lead the softmax
    # A model trained without unanswerable questions always answers.
    always, _ = choose_answer(windows, allow_empty=False, null_score_threshold=0.0, **kwargs)
    assert (always.start, always.end) == (4, 8)


def test_duplicate_spans_from_overlapping_windows_count_once():
    same = window({5: 3.0}, {5: 3.0})
    span, probability = choose_answer([same, same], n_best=1, max_answer_length=30, allow_empty=False,
                                      null_score_threshold=0.0)
    assert probability == 1.0 and (span.start, span.end) == (4, 8)


def test_no_valid_span_gives_an_empty_answer():
    s, e = logits({7: 5.0}, {4: 5.0})  # every candidate ends before it starts
    span, probability = choose_answer([(s, e, OFFSETS, 0)], n_best=1, max_answer_length=30, allow_empty=False,
                                      null_score_threshold=0.0)
    assert span == Span(None, None, 0.0) and probability == 0.0


def test_evaluate_and_predictions_from_logits():
    context = "Ana lives in Porto"
    examples = [QAExample("Where?", context, [Answer("Porto", 13)], id="q1"),
                QAExample("Why?", context, [], id="q2")]
    offsets = [None, None, None, (0, 3), (4, 9), (10, 12), (13, 18), None]
    features = [{"example": 0, "offsets": offsets, "cls_index": 0}, {"example": 1, "offsets": offsets, "cls_index": 0}]
    answer_porto = np.zeros((8, 2))
    answer_porto[6] = 5.0
    answer_nothing = np.zeros((8, 2))
    answer_nothing[0] = 5.0
    data = DataConfig()
    report, metrics = TASK.evaluate(examples, features, [answer_porto, answer_nothing], ["answer", "no_answer"],
                                    data, "default")
    assert metrics == {"exact_match": 1.0, "f1": 1.0}
    assert report["breakdown"]["unanswerable"]["examples"] == 1
    # Without "no_answer" in the labels the model must answer, and the unanswerable question is an error.
    report, metrics = TASK.evaluate(examples, features, [answer_porto, answer_nothing], ["answer"], data, "default")
    assert metrics["exact_match"] == 0.5 and report["unknown_labels"] == {"no_answer": 1}
    first, second = TASK.predictions(examples, features, [answer_porto, answer_nothing], ["answer", "no_answer"], data)
    assert first["id"] == "q1" and first["answer"] == "Porto" and (first["start"], first["end"]) == (13, 18)
    assert context[first["start"]:first["end"]] == first["answer"]
    # Softmax over the ten spans of tokens 3-6 and the null answer: Porto scores 10, the three
    # other spans ending on it 5, the six others and the null answer 0.
    assert first["score"] == round(1 / (1 + 3 * np.exp(-5) + 7 * np.exp(-10)), 4)
    assert second["answer"] == "" and second["start"] is None


def test_prediction_inputs_take_records_and_json_strings():
    examples = TASK.prediction_inputs([{"question": "Where?", "context": "In Porto.", "answers": "ignored"},
                                       '{"id": 3, "question": "Who?", "context": "Ana."}'], DataConfig())
    assert [(ex.question, ex.id, ex.answers) for ex in examples] == [("Where?", None, None), ("Who?", "3", None)]
    with pytest.raises(DataError, match=r"input 1: expected a JSON object like \{\"question\""):
        TASK.prediction_inputs(["Where is Ana?"], DataConfig())
    with pytest.raises(DataError, match=r"input 1: 'context' must be a non-empty string"):
        TASK.prediction_inputs(['{"question": "Where?"}'], DataConfig())
