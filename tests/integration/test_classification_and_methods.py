"""Sequence classification (single, multi-label, pairs, long texts) and the fine-tuning methods."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import DEMO, write_config
from whet import load
from whet.config import load_config
from whet.train import train


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def config_for(tmp_path: Path, model: Path, name: str, task: str, data: dict, **sections) -> Path:
    raw = {"task": task, "model": str(model), "data": data,
           "training": {"epochs": 4, "lr": 3e-3, "batch_size": 16, "seed": 3},
           "output": {"dir": str(tmp_path / name)}}
    return write_config(tmp_path, name, raw, sections)


def intents(tiny_bert, tmp_path, name="intents", **sections):
    data = {"train": str(DEMO / "intents" / "train.jsonl"), "dev": str(DEMO / "intents" / "dev.jsonl")}
    return load_config(config_for(tmp_path, tiny_bert, name, "sequence-classification", data, **sections))


def test_intent_classifier_learns_and_predicts_probabilities(tiny_bert, tmp_path):
    results = train(intents(tiny_bert, tmp_path, training={"epochs": 6}))
    # A random 2-layer model learns slowly; the real model's quality is tested in test_builtin_model.
    assert results["dev"]["accuracy"] > 0.15  # 10 balanced intents: chance is 0.1
    assert results["dev"]["loss"] < 2.1  # ln(10) = 2.30 is the loss of a uniform guess
    report = json.loads((tmp_path / "intents" / "dev_report.json").read_text())
    matrix = report["classes"]["confusion_matrix"]
    assert len(matrix) == 10 and sum(map(sum, matrix)) == 100
    assert (tmp_path / "intents" / "dev_report_confusion_matrix.png").stat().st_size > 1000
    model = load(str(tmp_path / "intents" / "model"))
    [prediction] = model.predict(["I lost my card yesterday"])
    assert prediction["label"] in model.labels
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)


def test_multi_label_text_pairs_and_long_texts(tiny_bert, tmp_path):
    topics = ["billing", "delivery", "quality"]
    words = {"billing": "invoice charge refund", "delivery": "courier parcel late", "quality": "broken scratched faulty"}
    rows = []
    for i in range(120):
        labels = [t for j, t in enumerate(topics) if (i >> j) & 1] or ["quality"]
        # The topics' words repeat 1-7 times: long texts become several windows, each with the words
        # (a count unrelated to the labels, which follow i % 8).
        text = " ".join([" ".join(words[t] for t in labels)] * (1 + i % 7))
        rows.append({"text": text, "context": f"ticket {i}", "labels": labels})
    data = {"train": write_jsonl(tmp_path / "train.jsonl", rows[:100]), "dev": write_jsonl(tmp_path / "dev.jsonl", rows[100:]),
            "multi_label": True, "label_column": "labels", "text_pair_column": "context", "max_length": 24, "stride": 8}
    config = load_config(config_for(tmp_path, tiny_bert, "multi", "sequence-classification", data,
                                    training={"epochs": 12, "lr": 5e-3, "metric": "f1"}))
    results = train(config)
    # What no learning scores: predicting every label (micro F1 2p / (1 + p) with p the share of
    # positive example-label pairs), or a loss near ln 2 (the untrained model's 0.69).
    positives = sum(len(row["labels"]) for row in rows[100:]) / (len(rows[100:]) * len(topics))
    assert results["dev"]["f1"] > 2 * positives / (1 + positives) + 0.1
    assert results["dev"]["loss"] < 0.45
    model = load(str(tmp_path / "multi" / "model"))
    [prediction] = model.predict([{"text": "invoice charge refund " * 8, "context": "ticket x"}])
    assert set(prediction["probabilities"]) == set(topics)
    assert max(prediction["probabilities"], key=prediction["probabilities"].get) == "billing"
    assert "billing" in prediction["labels"]
    with pytest.raises(Exception, match="text pairs"):
        model.predict(["no pair given"])


def changed_parameters(before: dict, model) -> set[str]:
    return {name for name, p in model.named_parameters() if not torch.equal(before[name], p.detach())}


@pytest.mark.parametrize("method", ["full", "frozen", "bitfit"])
def test_methods_train_only_their_parameters(tiny_bert, tmp_path, method):
    import transformers

    from whet.methods import METHODS
    from whet.models.pretrained import load_model

    config = intents(tiny_bert, tmp_path, name=method, method={"name": method}, training={"epochs": 1})
    train(config)
    trained = load_file(str(tmp_path / method / "model" / "model.safetensors"))
    base = load_model(transformers.AutoModelForSequenceClassification, str(tiny_bert), num_labels=10)
    base_state = base.state_dict()
    changed = {name for name, value in trained.items()
               if name in base_state and not torch.equal(value, base_state[name])}
    body = {n for n in changed if not n.startswith("classifier.")}
    assert any(n.startswith("classifier.") for n in trained)
    if method == "full":
        assert any("attention.self.query.weight" in n for n in body)
    elif method == "frozen":
        assert body == set()
    else:
        assert body and all(n.endswith(".bias") for n in body)
    assert METHODS.get(method)  # registered


def test_lora_saves_adapter_and_merged_model_that_agree(tiny_bert, tmp_path):
    config = intents(tiny_bert, tmp_path, name="lora", method={"name": "lora", "lora": {"r": 4, "alpha": 8}},
                     training={"epochs": 2, "lr": 5e-3})
    train(config, merge=True)
    model_dir = tmp_path / "lora" / "model"
    assert (model_dir / "adapter_model.safetensors").is_file() and (model_dir / "adapter_config.json").is_file()
    assert not (model_dir / "model.safetensors").exists()
    adapter_weights = load_file(str(model_dir / "adapter_model.safetensors"))
    assert any("lora_A" in n for n in adapter_weights) and any("classifier" in n for n in adapter_weights)
    texts = ["I want to move money to my savings", "my card was stolen", "what is my balance"]
    from_adapter = load(str(model_dir)).predict(texts)
    from_merged = load(str(model_dir / "merged")).predict(texts)
    for a, b in zip(from_adapter, from_merged):
        assert a["label"] == b["label"]
        for label in a["probabilities"]:
            assert a["probabilities"][label] == pytest.approx(b["probabilities"][label], abs=2e-3)
