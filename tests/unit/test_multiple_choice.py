"""Multiple choice: option pairs encoded, batches of unequal option counts, probabilities and accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from whet.data.token_batches import feature_length
from whet.config import DataConfig
from whet.data.examples import ChoiceExample
from whet.errors import DataError
from whet.tasks.multiple_choice import TASK


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from whet.models.pretrained import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("builtin:minilm"))


def encode(examples, tokenizer, max_length=64):
    return TASK.encode(examples, tokenizer=tokenizer, labels=[], max_length=max_length, stride=0, data=DataConfig())


def test_each_option_is_paired_with_the_question(tokenizer):
    example = ChoiceExample("which is a fruit?", ["a pear", "a big red hammer"], answer=0, source="t:1")
    [feature] = encode([example], tokenizer)
    assert [tokenizer.decode(ids) for ids in feature["input_ids"]] == [
        "[CLS] which is a fruit? [SEP] a pear [SEP]", "[CLS] which is a fruit? [SEP] a big red hammer [SEP]"]
    assert feature["labels"] == 0
    assert feature_length(feature) == 2 * 12  # both options padded to the longer one


def test_batches_of_unequal_option_counts_repeat_the_last_option(tokenizer):
    examples = [ChoiceExample("q?", ["a", "b", "c"], answer=None), ChoiceExample("q?", ["yes", "no"], answer=None)]
    batch = TASK.collate(encode(examples, tokenizer), pad_token_id=0)
    assert batch["input_ids"].shape == (2, 3, 6)  # (questions, options, tokens)
    assert "labels" not in batch
    assert batch["input_ids"][1, 2].tolist() == batch["input_ids"][1, 1].tolist()
    assert batch["attention_mask"][0].sum().item() == 3 * 6


def test_too_long_inputs_are_refused_not_truncated(tokenizer):
    example = ChoiceExample("which " * 20, ["a pear", "a hammer"], answer=0, source="mc.jsonl:3")
    with pytest.raises(DataError, match=r"mc\.jsonl:3: the question with option 0 is 25 tokens, more than the "
                                        r"16-token window; shorten them or raise data.max_length"):
        encode([example], tokenizer, max_length=16)


def test_probabilities_ignore_filler_options_and_accuracy_counts_positions():
    examples = [ChoiceExample("q1", ["a", "b", "c"], 2), ChoiceExample("q2", ["a", "b"], 0),
                ChoiceExample("q3", ["a", "b"], 1, id="x")]
    # The second question's third logit is a filler copy and must not count.
    logits = [np.array([0.0, 1.0, 3.0]), np.array([2.0, 0.0, 9.0]), np.array([1.0, 0.0, 0.0])]
    report, metrics = TASK.evaluate(examples, [], logits, [], DataConfig(), "default")
    assert metrics == {"accuracy": pytest.approx(2 / 3)}
    assert report["breakdown"]["option 1"] == {"accuracy": 0.0, "examples": 1, "predicted": 0}
    assert report["breakdown"]["option 0"] == {"accuracy": 1.0, "examples": 1, "predicted": 2}
    predictions = TASK.predictions(examples, [], logits, [], DataConfig())
    assert predictions[1]["answer"] == 0 and len(predictions[1]["probabilities"]) == 2
    assert predictions[1]["probabilities"][0] == pytest.approx(1 / (1 + np.exp(-2)), abs=1e-4)
    assert predictions[2] == {"id": "x", "question": "q3", "answer": 0, "option": "a",
                              "score": predictions[2]["probabilities"][0], "probabilities": [0.7311, 0.2689]}


def test_prediction_inputs_accept_any_option_count_and_json_strings():
    examples = TASK.prediction_inputs([{"question": "q", "options": ["a", "b", "c"]},
                                       '{"question": "q", "options": ["a", "b"], "id": "7"}'], DataConfig())
    assert [len(ex.options) for ex in examples] == [3, 2] and examples[1].id == "7"
    with pytest.raises(DataError, match=r"input 1: expected a JSON object like"):
        TASK.prediction_inputs(["which one?"], DataConfig())
