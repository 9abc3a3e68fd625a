"""Class weights in the loss: the weights from the training labels, the weighted loss, the
settings refused where they cannot act, and a training run that uses them."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from tests.conftest import DEMO, write_config
from whet.config import RunConfig, load_config, validation_problems
from whet.errors import ConfigError
from whet.training.class_weights import class_weight_vector, weighted_cross_entropy


def test_balanced_weights_are_n_over_classes_times_count_for_texts_and_for_words():
    texts = [{"labels": 0}] * 6 + [{"labels": 1}] * 2 + [{"labels": 2}] * 4
    assert class_weight_vector("balanced", ["a", "b", "c"], texts).tolist() == pytest.approx([12 / 18, 12 / 6, 12 / 12])
    words = [{"labels": [-100, 0, 0, 1, -100]}, {"labels": [0, 0, 2, -100]}]  # ignored positions do not count
    assert class_weight_vector("balanced", ["O", "B", "I"], words).tolist() == pytest.approx([6 / 12, 6 / 3, 6 / 3])


def test_a_label_without_training_examples_weighs_as_if_it_had_one():
    weights = class_weight_vector("balanced", ["a", "b"], [{"labels": 0}] * 4)
    assert weights.tolist() == pytest.approx([0.5, 2.0])


def test_a_mapping_sets_the_named_labels_and_unknown_names_are_refused():
    assert class_weight_vector({"neg": 3.0}, ["neg", "neu", "pos"], []).tolist() == [3.0, 1.0, 1.0]
    with pytest.raises(ConfigError, match=r"training.class_weights: negative not among the labels \(neg, neu, pos\)"):
        class_weight_vector({"negative": 3.0}, ["neg", "neu", "pos"], [])


def test_the_weighted_loss_is_torch_cross_entropy_with_the_weights_and_skips_ignored_positions():
    torch.manual_seed(0)
    logits, labels = torch.randn(2, 5, 3), torch.tensor([[0, 1, -100, 2, 2], [1, -100, 0, 0, 2]])
    weights = torch.tensor([0.5, 2.0, 1.0])
    loss = weighted_cross_entropy(weights)(SimpleNamespace(logits=logits), {"labels": labels})
    kept = labels.reshape(-1) != -100
    by_hand = -(weights[labels.reshape(-1)[kept]]
                * torch.log_softmax(logits.reshape(-1, 3)[kept], -1).gather(1, labels.reshape(-1)[kept, None])[:, 0])
    assert loss.item() == pytest.approx((by_hand.sum() / weights[labels.reshape(-1)[kept]].sum()).item())
    unweighted = weighted_cross_entropy(torch.ones(3))(SimpleNamespace(logits=logits), {"labels": labels})
    assert unweighted.item() == pytest.approx(torch.nn.functional.cross_entropy(
        logits.reshape(-1, 3), labels.reshape(-1), ignore_index=-100).item())


@pytest.mark.parametrize(("raw", "expected"), [
    ({"task": "causal-lm", "model": "gpt2", "training": {"class_weights": "balanced"}},
     "training.class_weights: needs sequence or token classification with one label per text or word; remove it"),
    ({"task": "sequence-classification", "data": {"multi_label": True}, "training": {"class_weights": "balanced"}},
     "training.class_weights: needs sequence or token classification with one label per text or word; remove it"),
    ({"task": "sequence-classification", "method": {"name": "pet"}, "training": {"class_weights": "balanced"}},
     "training.class_weights: method pet scores label words, not a classification head; remove it or choose "
     "another method"),
    ({"task": "sequence-classification", "training": {"class_weights": "even"}},
     "training.class_weights: give balanced or a mapping of labels to weights, not 'even'"),
    ({"task": "sequence-classification", "training": {"class_weights": {"neg": "x"}}},
     "training.class_weights: the weight of 'neg' must be a number above 0, not 'x'"),
])
def test_class_weights_where_they_cannot_act_are_refused(raw, expected):
    assert validation_problems(raw) == [expected]


def test_a_saved_config_with_weights_loads_again():
    config = RunConfig.model_validate({"task": "sequence-classification",
                                       "training": {"class_weights": {"neg": 2.0}}})
    assert config.training.class_weights == {"neg": 2.0}


# The demo intents are even (balanced weighs them all 1), so the runs set weights by name.
WEIGHTS = {"lost_card": 5.0, "report_fraud": 5.0, "check_balance": 0.2}


@pytest.mark.parametrize("training", [{"class_weights": WEIGHTS}, {"class_weights": WEIGHTS, "rdrop": 1.0}],
                         ids=["weighted", "weighted-rdrop"])
def test_a_weighted_run_trains_and_its_loss_differs_from_the_plain_one(tmp_path, tiny_bert, training):
    from whet.train import train

    def run(name, extra):
        raw = {"task": "sequence-classification", "model": str(tiny_bert),
               "data": {"train": str(DEMO / "intents" / "train.jsonl"), "dev": str(DEMO / "intents" / "dev.jsonl")},
               "training": {"max_steps": 2, "lr": 3e-3, "batch_size": 16, "seed": 3, "log_every": 1, **extra},
               "output": {"dir": str(tmp_path / name)}}
        events = []
        train(load_config(write_config(tmp_path, name, raw, {})), on_step=events.append)
        return [event.loss for event in events]

    plain = run("plain", {key: value for key, value in training.items() if key != "class_weights"})
    weighted = run("weighted", training)
    assert len(weighted) == 2 and all(math.isfinite(loss) for loss in weighted)
    assert weighted[0] != pytest.approx(plain[0], abs=1e-6)
    assert (tmp_path / "weighted" / "model" / "whet.json").is_file()
