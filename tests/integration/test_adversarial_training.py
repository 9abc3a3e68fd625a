"""Adversarial training and R-Drop end to end on a tiny random BERT: sequence and token
classification, full fine-tuning and LoRA, bf16 autocast and gradient accumulation."""

from __future__ import annotations

import math

import pytest
import yaml
from safetensors.torch import load_file

from tests.conftest import DEMO, write_config
from whet.config import load_config
from whet.train import train

TASKS = {
    "token-classification": {"train": str(DEMO / "ner" / "train.conll"), "dev": str(DEMO / "ner" / "dev.conll")},
    "sequence-classification": {"train": str(DEMO / "intents" / "train.jsonl"), "dev": str(DEMO / "intents" / "dev.jsonl")},
}


def run(tmp_path, model, name, task, method, **training):
    raw = {"task": task, "model": str(model), "data": TASKS[task], "method": {"name": method},
           "training": {"max_steps": 4, "lr": 3e-3, "batch_size": 16, "seed": 3, "log_every": 1, **training},
           "output": {"dir": str(tmp_path / name)}}
    events = []
    results = train(load_config(write_config(tmp_path, name, raw, {})), on_step=events.append)
    return results, events


@pytest.mark.parametrize(("task", "method", "training"), [
    ("token-classification", "full", {"adversarial": "fgm"}),
    ("token-classification", "lora", {"adversarial": "freelb", "precision": "bf16", "grad_accum": 2}),
    ("sequence-classification", "full", {"adversarial": "pgd", "grad_accum": 2}),
    ("sequence-classification", "lora", {"adversarial": "fgm", "precision": "bf16"}),
    ("sequence-classification", "full", {"rdrop": 1.0, "precision": "bf16", "grad_accum": 2}),
    ("token-classification", "lora", {"rdrop": 1.0, "adversarial": "fgm"}),
], ids=["ner-full-fgm", "ner-lora-freelb-bf16-accum", "intents-full-pgd-accum", "intents-lora-fgm-bf16",
        "intents-full-rdrop-bf16-accum", "ner-lora-rdrop-fgm"])
def test_training_runs_end_to_end_and_saves_a_model_that_loads(tmp_path, tiny_bert, task, method, training):
    results, events = run(tmp_path, tiny_bert, "run", task, method, **training)
    assert len(events) == 4 and all(math.isfinite(e.loss) for e in events)
    assert results["best_step"] is not None
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["training"]
    assert saved["adversarial"]["method"] == training.get("adversarial", "none")
    assert load_config(tmp_path / "run" / "config.yaml").training.rdrop.alpha == training.get("rdrop", 0.0)
    assert (tmp_path / "run" / "model" / "whet.json").is_file()


def test_adversarial_training_trains_other_weights_than_plain_training(tmp_path, tiny_bert):
    run(tmp_path, tiny_bert, "plain", "sequence-classification", "full", max_steps=2)
    run(tmp_path, tiny_bert, "fgm", "sequence-classification", "full", max_steps=2, adversarial="fgm")
    plain = load_file(str(tmp_path / "plain" / "model" / "model.safetensors"))
    fgm = load_file(str(tmp_path / "fgm" / "model" / "model.safetensors"))
    assert max((fgm[name] - plain[name]).abs().max().item() for name in plain) > 1e-6
    embeddings = "bert.embeddings.word_embeddings.weight"
    assert embeddings in fgm and fgm[embeddings].shape == plain[embeddings].shape


def test_a_wrong_embedding_name_stops_before_training(tmp_path, tiny_bert):
    from whet.errors import ConfigError

    with pytest.raises(ConfigError, match="training.adversarial.embedding: 'word_embedding' is not a module"):
        run(tmp_path, tiny_bert, "wrong", "sequence-classification", "full",
            adversarial={"method": "fgm", "embedding": "word_embedding"})
