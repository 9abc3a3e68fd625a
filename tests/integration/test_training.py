"""End-to-end training on a tiny random BERT loaded through the same path as a user's model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from tests.conftest import DEMO, write_config
from tests.in_process import run_whet
from whet import load
from whet.config import load_config
from whet.errors import Interrupted
from whet.train import train
from whet.training.interrupt import STOP


def make_config(tmp_path: Path, model: Path, name: str, **sections) -> Path:
    raw = {
        "task": "token-classification",
        "model": str(model),
        "data": {"train": str(DEMO / "ner" / "train.conll"), "dev": str(DEMO / "ner" / "dev.conll")},
        "training": {"epochs": 3, "lr": 3e-3, "batch_size": 16, "eval_every": 7, "log_every": 1, "seed": 7},
        "output": {"dir": str(tmp_path / name)},
    }
    return write_config(tmp_path, name, raw, sections)


@pytest.fixture(scope="module")
def ner_run(tiny_bert, tmp_path_factory):
    """One uninterrupted NER run, shared by the tests that inspect its results."""
    tmp_path = tmp_path_factory.mktemp("ner")
    config_path = make_config(tmp_path, tiny_bert, "straight")
    events = []
    results = train(load_config(config_path), on_step=events.append)
    return config_path, results, events, tmp_path / "straight"


def test_loss_falls_and_entities_are_learned(ner_run):
    _, results, events, _ = ner_run
    losses = [e.loss for e in events]
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5
    assert results["dev"]["f1"] > 0.2  # far above an untrained model's 0.0


def test_run_directory_holds_model_reports_and_curves(ner_run):
    _, _, _, run_dir = ner_run
    for name in ("config.yaml", "dev_report.json", "dev_report.md", "dev_report_f1_by_type.png",
                 "training_curves.png", "model/config.json", "model/model.safetensors", "model/whet.json",
                 "model/tokenizer.json", "checkpoints/last/state.json"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert not list(run_dir.rglob("*.tmp"))
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["training"]["seed"] == 7 and saved["method"]["name"] == "full"


def test_tensorboard_has_loss_lr_and_dev_metrics(ner_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, _, _, run_dir = ner_run
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "dev/f1", "dev/loss"} <= tags


def test_saved_model_round_trips_through_load_eval_and_plain_transformers(ner_run):
    from transformers import AutoModelForTokenClassification

    _, results, _, run_dir = ner_run
    model = load(str(run_dir / "model"))
    report = model.evaluate(str(DEMO / "ner" / "dev.conll"))
    assert report["entity"]["micro"]["f1"] == pytest.approx(results["dev"]["f1"], abs=1e-9)
    plain = AutoModelForTokenClassification.from_pretrained(run_dir / "model")
    assert plain.config.id2label[0] == "O" and set(plain.config.label2id) == set(model.labels)
    text = "Maria Lopez flew to Lisbon with Northwind Traders ."
    [prediction] = model.predict([text])
    assert prediction["text"] == text and prediction["entities"]
    types = {label[2:] for label in model.labels if label != "O"}
    for entity in prediction["entities"]:
        assert text[entity["start"]:entity["end"]] == entity["text"]
        assert 0 < entity["score"] <= 1 and entity["type"] in types


def test_cli_predict_file_streams_jsonl(ner_run, tmp_path):
    _, _, _, run_dir = ner_run
    inputs = tmp_path / "in.jsonl"
    lines = [{"text": f"Order {i} for Anna Berg shipped from Oslo ."} for i in range(150)]
    lines.append({"tokens": ["John", "Smith", "visited", "Rome"]})
    inputs.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "out.jsonl"
    done = run_whet("predict", str(run_dir / "model"), "--input", str(inputs), "--output", str(out),
                   "--batch-size", "16")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len(lines)
    assert records[0]["text"] == lines[0]["text"] and records[-1]["tokens"] == lines[-1]["tokens"]
    direct = load(str(run_dir / "model")).predict(lines[:3])
    assert [r["entities"] for r in records[:3]] == [d["entities"] for d in direct]


def test_resume_after_interruption_equals_uninterrupted_run(ner_run, tiny_bert, tmp_path):
    _, results, _, straight_dir = ner_run
    config_path = make_config(tmp_path, tiny_bert, "interrupted")

    def stop_at_step_11(event):
        if event.step == 11:
            STOP.set()

    with pytest.raises(Interrupted, match="resume"):
        train(load_config(config_path), on_step=stop_at_step_11)
    resumed = train(load_config(config_path), resume=True)
    assert resumed == results
    straight = load_file(str(straight_dir / "model" / "model.safetensors"))
    again = load_file(str(tmp_path / "interrupted" / "model" / "model.safetensors"))
    assert straight.keys() == again.keys()
    for name in straight:
        assert (straight[name] == again[name]).all(), name


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_the_same(ner_run, tiny_bert, tmp_path):
    _, results, _, _ = ner_run
    config_path = make_config(tmp_path, tiny_bert, "ctrl-c")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "whet", "train", str(config_path)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = tmp_path / "ctrl-c" / "checkpoints" / "last" / "state.json"
    deadline = time.time() + 120
    while not state.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.fail("the run finished before Ctrl-C arrived; make it longer")
    assert process.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    done = run_whet("train", str(config_path), "--resume")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == results


def test_existing_run_is_not_overwritten(ner_run):
    config_path, _, _, run_dir = ner_run
    before = (run_dir / "model" / "model.safetensors").stat().st_mtime_ns
    done = run_whet("train", str(config_path))
    assert done.returncode == 2 and "--resume" in done.stderr
    assert (run_dir / "model" / "model.safetensors").stat().st_mtime_ns == before


def test_the_best_evaluation_is_the_final_dev_report_without_scoring_dev_again(tiny_bert, tmp_path, monkeypatch):
    import whet.training.finish as finish

    scored = []
    real = finish.evaluate_features
    monkeypatch.setattr(finish, "evaluate_features", lambda model, task, examples, *a, **k:
                        scored.append(len(examples)) or real(model, task, examples, *a, **k))
    config_path = make_config(tmp_path, tiny_bert, "reuse", training={"max_steps": 8, "eval_every": 4},
                              data={"test": str(DEMO / "ner" / "train.conll")})
    events = []
    results = train(load_config(config_path), on_step=events.append)
    best = [e for e in events if e.is_best][-1]
    assert results["dev"] == best.metrics and results["best_step"] == best.step
    assert len(scored) == 1 and "test" in results  # the test split only
    written = json.loads((tmp_path / "reuse" / "dev_report.json").read_text())
    assert written["entity"]["micro"]["f1"] == pytest.approx(best.metrics["f1"])
    assert load(str(tmp_path / "reuse" / "model")).evaluate(str(DEMO / "ner" / "dev.conll"))["entity"]["micro"][
        "f1"] == pytest.approx(best.metrics["f1"], abs=1e-9)
