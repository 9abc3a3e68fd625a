"""Training options that change the loop: accumulation, bf16, early stopping, strict evaluation."""

from __future__ import annotations

import json
import math

import pytest
import torch
from seqeval.scheme import IOB2, IOBES

from tests.integration.test_training import make_config
from tests.unit.test_ner_metrics import assert_matches_seqeval, reference
from whet import load
from whet.config import load_config
from whet.train import train


def run(tmp_path, tiny_bert, name, **training):
    config = load_config(make_config(tmp_path, tiny_bert, name, training=training))
    events = []
    results = train(config, on_step=events.append)
    return results, events


def test_gradient_accumulation_takes_one_step_per_group_of_batches(tiny_bert, tmp_path):
    _, single = run(tmp_path, tiny_bert, "accum1", epochs=1, eval_every=None, grad_accum=1)
    _, grouped = run(tmp_path, tiny_bert, "accum3", epochs=1, eval_every=None, grad_accum=3)
    assert len(grouped) == math.ceil(len(single) / 3)
    assert grouped[-1].loss < grouped[0].loss


def test_bf16_autocast_trains_and_saves_float32_weights(tiny_bert, tmp_path):
    from safetensors.torch import load_file

    results, events = run(tmp_path, tiny_bert, "bf16", epochs=2, eval_every=None, precision="bf16")
    assert all(math.isfinite(e.loss) for e in events)
    assert sum(e.loss for e in events[-3:]) < sum(e.loss for e in events[:3])
    weights = load_file(str(tmp_path / "bf16" / "model" / "model.safetensors"))
    assert {str(w.dtype) for w in weights.values()} == {"torch.float32"}


def test_early_stopping_after_patience_evaluations_without_improvement(tiny_bert, tmp_path):
    # With a vanishing learning rate (the head's too) dev F1 never moves, so the first evaluation stays the best.
    results, events = run(tmp_path, tiny_bert, "patience", epochs=3, lr=1e-12, head_lr=1e-12, eval_every=2,
                          patience=2)
    evaluations = [e for e in events if e.metrics is not None]
    assert len(evaluations) == 3 and events[-1].step == 6
    assert results["best_step"] == 2


def test_best_checkpoint_not_last_becomes_the_model(tiny_bert, tmp_path):
    results, events = run(tmp_path, tiny_bert, "best", epochs=2, eval_every=3, metric="loss")
    evaluations = [e for e in events if e.metrics is not None]
    best = min(evaluations, key=lambda e: e.metrics["loss"])
    assert results["best_step"] == best.step
    assert results["dev"]["loss"] == pytest.approx(best.metrics["loss"], rel=1e-5)


def test_max_steps_overrides_epochs(tiny_bert, tmp_path):
    _, one_epoch = run(tmp_path, tiny_bert, "epoch", epochs=1, eval_every=None)
    steps = len(one_epoch) + 3
    _, events = run(tmp_path, tiny_bert, "steps", epochs=1, max_steps=steps, eval_every=None)
    assert [e.step for e in events] == list(range(1, steps + 1)) and events[-1].epoch > 1
    assert [e.step for e in events if e.metrics is not None] == [len(one_epoch), steps]  # each epoch's end, the last


def test_the_last_step_is_evaluated_whatever_eval_every_says(tiny_bert, tmp_path):
    results, events = run(tmp_path, tiny_bert, "tail", epochs=2, eval_every=5)
    last = events[-1].step
    assert last % 5  # the demo data's steps do not end on an evaluation of their own
    assert [e.step for e in events if e.metrics is not None] == [*range(5, last, 5), last]
    assert results["best_step"] in range(5, last + 1)


def test_eval_every_end_evaluates_the_last_step_only_and_checkpoints_each_epoch(tiny_bert, tmp_path):
    state = tmp_path / "end" / "checkpoints" / "last" / "state.json"
    events, checkpointed = [], []

    def on_step(event):  # called after the step's checkpoint, if it wrote one
        events.append(event)
        if event.epoch_end:
            checkpointed.append(json.loads(state.read_text())["loop"]["step"])

    results = train(load_config(make_config(tmp_path, tiny_bert, "end", training={"epochs": 2, "eval_every": "end"})),
                    on_step=on_step)
    assert [e.step for e in events if e.metrics is not None] == [events[-1].step] == [results["best_step"]]
    epoch_ends = [e.step for e in events if e.epoch_end]
    assert len(epoch_ends) == 2 and checkpointed == epoch_ends


# The dev file below and the gold tags whet reads from it, in each scheme (IOB2 files are
# converted to a BIOES model's scheme).
STRICT_DEV = "Paris\tB-LOC\n\nMaria\tB-PER\nLopez\tI-PER\nspoke\tO\n\nBerlin\tB-LOC\n.\tO\n"
STRICT_GOLD = {"iob2": [["B-LOC"], ["B-PER", "I-PER", "O"], ["B-LOC", "O"]],
               "bioes": [["S-LOC"], ["B-PER", "E-PER", "O"], ["S-LOC", "O"]]}


@pytest.mark.parametrize(("scheme", "predicted", "seqeval_scheme"), [
    ("iob2", "I-LOC", IOB2),  # every entity opens with I-
    ("bioes", "B-LOC", IOBES),  # no entity ever closes with E-
])
def test_strict_mode_evaluation_scores_ill_formed_predictions_like_seqeval(tiny_bert, tmp_path, scheme, predicted,
                                                                           seqeval_scheme):
    train(load_config(make_config(tmp_path, tiny_bert, scheme, data={"label_scheme": scheme},
                                  training={"max_steps": 1, "eval_every": None})))
    (tmp_path / "dev.conll").write_text(STRICT_DEV, encoding="utf-8")
    model = load(str(tmp_path / scheme / "model"))
    # A head that tags every word alike: predictions known in advance and ill formed under the scheme.
    with torch.no_grad():
        model.model.classifier.weight.zero_()
        model.model.classifier.bias.copy_(torch.eye(len(model.labels))[model.labels.index(predicted)])
    default = model.evaluate(str(tmp_path / "dev.conll"))
    strict = model.evaluate(str(tmp_path / "dev.conll"), mode="strict")

    gold = STRICT_GOLD[scheme]
    pred = [[predicted] * len(tags) for tags in gold]
    assert (default["mode"], strict["mode"]) == ("default", "strict")
    assert_matches_seqeval(default["entity"], reference(gold, pred))
    assert_matches_seqeval(strict["entity"], reference(gold, pred, mode="strict", scheme=seqeval_scheme))
    # One-word entities under the constant tag are found by default, never in strict mode.
    assert default["entity"]["micro"]["precision"] > 0 and strict["entity"]["micro"]["precision"] == 0.0


def test_dev_split_off_train_when_no_dev_file_and_test_file_reported(tiny_bert, tmp_path):
    import json

    from tests.conftest import DEMO

    data = {"train": str(DEMO / "ner" / "train.conll"), "dev": None, "dev_split": 0.2,
            "test": str(DEMO / "ner" / "dev.conll")}
    config = load_config(make_config(tmp_path, tiny_bert, "split", data=data,
                                     training={"max_steps": 3, "eval_every": None}))
    results = train(config)
    dev = json.loads((tmp_path / "split" / "dev_report.json").read_text())
    test = json.loads((tmp_path / "split" / "test_report.json").read_text())
    assert dev["examples"] == 60 and "20% of" in dev["dataset"]  # 300 demo sentences
    assert test["examples"] == 100 and test["dataset"].endswith("dev.conll")
    assert set(results) == {"best_step", "dev", "test"}


def test_model_settings_change_the_models_configuration_and_unknown_ones_are_refused(tiny_bert, tmp_path):
    import json

    from transformers import AutoModelForTokenClassification

    from whet.errors import ConfigError

    config = load_config(make_config(tmp_path, tiny_bert, "settings", training={"max_steps": 2, "eval_every": None},
                                     model_settings={"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}))
    train(config)
    saved = json.loads((tmp_path / "settings" / "model" / "config.json").read_text())
    assert saved["hidden_dropout_prob"] == 0.0 and saved["attention_probs_dropout_prob"] == 0.0
    model = AutoModelForTokenClassification.from_pretrained(tmp_path / "settings" / "model").train()
    ids = torch.tensor([[101, 2000, 2001, 2002, 102]])
    assert torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)  # no dropout left in training mode
    default = AutoModelForTokenClassification.from_pretrained(tiny_bert, num_labels=3).train()
    torch.manual_seed(0)
    assert not torch.equal(default(input_ids=ids).logits, default(input_ids=ids).logits)

    unknown = load_config(make_config(tmp_path, tiny_bert, "unknown", model_settings={"attn_pdrop": 0.0}))
    with pytest.raises(ConfigError, match=r"model_settings\.attn_pdrop: BertConfig has no such setting; its dropout "
                                          r"settings are attention_probs_dropout_prob, classifier_dropout"):
        train(unknown)
    assert not (tmp_path / "unknown" / "model").exists()
    taken = load_config(make_config(tmp_path, tiny_bert, "taken", model_settings={"num_labels": 4}))
    with pytest.raises(ConfigError, match=r"model_settings\.num_labels: whet sets it for the token-classification task"):
        train(taken)
    with pytest.raises(ConfigError, match="method pet builds its own model"):
        load_config(make_config(tmp_path, tiny_bert, "pet", task="sequence-classification", method={"name": "pet"},
                                model_settings={"hidden_dropout_prob": 0.0}))
