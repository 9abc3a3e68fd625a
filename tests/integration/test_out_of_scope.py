"""Out-of-scope detection end to end on a tiny random model: fitted at the end of training, saved
with the model, and answered as the none label by whet predict, whet eval and whet serve."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.in_process import run_whet as whet
from whet import load
from whet.config import load_config
from whet.train import train

INTENTS = {"balance": "balance account money check savings", "greeting": "hello hi hey morning evening",
           "transfer": "transfer send wire payment pay"}
OUT_OF_SCOPE = "zebra giraffe volcano pyramid saxophone penguin glacier"
ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def rows(rng: random.Random, per_intent: int, oos: int) -> list[dict]:
    out = [{"text": " ".join(rng.choices(words.split(), k=4)), "label": label}
           for label, words in INTENTS.items() for _ in range(per_intent)]
    return out + [{"text": " ".join(rng.choices(OUT_OF_SCOPE.split(), k=4)), "label": "oos"} for _ in range(oos)]


def write_jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def train_with_detector(tiny_bert: Path, root: Path, name: str, **out_of_scope) -> tuple[dict, Path, str]:
    rng = random.Random(7)
    data = {"train": write_jsonl(root / "train.jsonl", rows(rng, 20, 10)),
            "dev": write_jsonl(root / "dev.jsonl", rows(rng, 6, 8))}
    raw = {"task": "sequence-classification", "model": str(tiny_bert), "data": data,
           # fp32: the figures are compared across processes, where auto could decide differently.
           "training": {"epochs": 4, "lr": 3e-3, "batch_size": 16, "seed": 3, "precision": "fp32"},
           "output": {"dir": str(root / name)}}
    results = train(load_config(write_config(root, name, raw, {"out_of_scope": out_of_scope})))
    return results, root / name / "model", data["dev"]


@pytest.fixture(scope="module")
def knn_model(tiny_bert, tmp_path_factory):
    return train_with_detector(tiny_bert, tmp_path_factory.mktemp("oos"), "knn", scorer="knn", k=3)


def dev_texts(dev: str, label: str | None = None) -> list[str]:
    records = [json.loads(line) for line in Path(dev).read_text().splitlines()]
    return [r["text"] for r in records if label is None or r["label"] == label]


def test_training_fits_and_saves_the_detector(knn_model):
    results, model_dir, _ = knn_model
    saved = json.loads((model_dir / "out_of_scope.json").read_text())
    assert saved["scorer"] == "knn" and saved["k"] == 3 and saved["none_label"] == "none"
    assert saved["fitted"]["rule"] == "oos_f1" and saved["fitted"]["out_of_scope"] == 8
    # The oos rows of train are not a class, and the knn bank holds the 60 in-scope training texts.
    assert load(str(model_dir)).labels == sorted(INTENTS)
    from safetensors.numpy import load_file

    assert load_file(str(model_dir / "out_of_scope.safetensors"))["train_features"].shape == (60, 32)
    # The best OOS F1 flags at least one of dev's 8 out-of-scope texts.
    assert results["out_of_scope"]["oos_recall"] > 0
    assert results["out_of_scope"] == saved["fitted"]["dev"]


def test_predict_answers_none_past_the_threshold(knn_model):
    _, model_dir, dev = knn_model
    threshold = json.loads((model_dir / "out_of_scope.json").read_text())["threshold"]
    model = load(str(model_dir), precision="fp32")
    predictions = model.predict(dev_texts(dev))
    assert any(p["label"] == "none" for p in predictions)
    for p in predictions:
        flagged = p["label"] == "none"
        assert flagged == ("in_scope_label" in p)
        assert p.get("in_scope_label", p["label"]) in INTENTS
    # The stored scores are rounded to 4 decimals; compare with the detector's own.
    outputs = model.example_outputs(model.task.prediction_inputs(dev_texts(dev), model.data), with_features=True)
    scores = model.detector.scores(outputs)
    assert [p["label"] == "none" for p in predictions] == list(scores > threshold)
    done = whet("predict", str(model_dir), "--precision", "fp32", *dev_texts(dev, "oos"))
    assert done.returncode == 0, done.stderr
    cli = [json.loads(line) for line in done.stdout.splitlines()]
    assert [p["label"] for p in cli] == [p["label"] for p in model.predict(dev_texts(dev, "oos"))]
    assert "none" in [p["label"] for p in cli]


def test_eval_reports_out_of_scope_figures(knn_model, tmp_path):
    results, model_dir, dev = knn_model
    done = whet("eval", str(model_dir), dev, "--output", str(tmp_path / "eval"), "--precision", "fp32")
    assert done.returncode == 0, done.stderr
    assert "Out of scope (knn" in done.stdout
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    found = report["out_of_scope"]
    assert found["out_of_scope_examples"] == 8 and found["examples"] == 26
    for key in ("in_scope_accuracy", "oos_precision", "oos_recall", "oos_f1", "auroc", "fpr_at_95"):
        assert found[key] == pytest.approx(results["out_of_scope"][key])
    assert "oos" not in report["unknown_labels"]
    assert "## Out of scope" in (tmp_path / "eval" / "report.md").read_text()


def test_out_of_scope_command_refits_another_scorer(knn_model, tmp_path):
    _, model_dir, dev = knn_model
    copy = shutil.copytree(model_dir, tmp_path / "model")
    train_file = str(Path(dev).with_name("train.jsonl"))
    done = whet("out-of-scope", str(copy), dev, "--train", train_file, "--scorer", "mahalanobis", "--precision", "fp32")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["rule"] == "oos_f1" and 0 <= figures["auroc"] <= 1
    from safetensors.numpy import load_file

    arrays = load_file(str(copy / "out_of_scope.safetensors"))
    assert arrays["class_means"].shape == (3, 32) and arrays["precision"].shape == (32, 32)
    done = whet("out-of-scope", str(copy), dev, "--scorer", "energy", "--target-recall", "0.5")
    assert done.returncode == 0, done.stderr
    assert not (copy / "out_of_scope.safetensors").exists()
    assert json.loads((copy / "out_of_scope.json").read_text())["scorer"] == "energy"
    bad = whet("out-of-scope", str(copy), dev, "--scorer", "odin")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].endswith(
        "--scorer 'odin': choose one of msp, energy, knn, mahalanobis")
    bad = whet("out-of-scope", str(copy), dev, "--scorer", "knn")
    assert bad.returncode == 2 and "give the training data" in bad.stderr


def test_out_of_scope_class_in_training(tiny_bert, tmp_path):
    results, model_dir, dev = train_with_detector(tiny_bert, tmp_path, "msp", scorer="msp", include_in_training=True)
    model = load(str(model_dir), precision="fp32")
    assert "oos" in model.labels
    # Whatever the threshold, a text predicted as the oos class is answered none.
    raw = model.example_outputs(model.task.prediction_inputs(dev_texts(dev), model.data))
    as_class = [model.labels[i] == "oos" for i in raw.logits.argmax(axis=1)]
    predictions = model.predict(dev_texts(dev))
    assert all(p["label"] == "none" for p, oos in zip(predictions, as_class) if oos)
    assert results["out_of_scope"]["oos_recall"] > 0


def test_serve_answers_none_like_whet_predict(knn_model, tmp_path):
    from tests.integration.serve.conftest import start_server, stop, wait_until_settled

    _, model_dir, dev = knn_model
    server = start_server(tmp_path, {"models": {"intents": str(model_dir)}, "precision": "fp32"}, env=ENV)
    try:
        assert wait_until_settled(server)["status"] == "ready"
        texts = dev_texts(dev)
        with server.client(key=None) as client:
            answer = client.post("/v1/predict", json={"inputs": texts})
            [described] = client.get("/v1/models").json()["models"]
        assert answer.status_code == 200, answer.text
        served = answer.json()["predictions"]
    finally:
        stop(server)
    assert described["out_of_scope"]["scorer"] == "knn" and described["out_of_scope"]["none_label"] == "none"
    offline = load(str(model_dir), precision="fp32").predict(texts)
    assert [p["label"] for p in served] == [p["label"] for p in offline]
    flagged = [p for p in served if p["label"] == "none"]
    assert flagged and all(p["in_scope_label"] in INTENTS and "out_of_scope_score" in p for p in flagged)


def test_export_takes_the_detector_along(knn_model, tmp_path):
    _, model_dir, dev = knn_model
    done = whet("export", str(model_dir), "--output", str(tmp_path / "merged"))
    assert done.returncode == 0, done.stderr
    exported = load(str(tmp_path / "merged"), precision="fp32")
    assert exported.detector is not None and exported.detector.scorer == "knn"
    texts = dev_texts(dev)
    assert exported.predict(texts) == load(str(model_dir), precision="fp32").predict(texts)
    done = whet("export", str(model_dir), "--output", str(tmp_path / "onnx"), "--onnx")
    assert done.returncode == 0, done.stderr
    assert "reads hidden states" in done.stderr and not (tmp_path / "onnx" / "out_of_scope.json").exists()
    assert all("out_of_scope_score" not in p for p in load(str(tmp_path / "onnx")).predict(texts[:3]))
