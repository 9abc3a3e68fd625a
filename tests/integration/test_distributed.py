"""Data-parallel training in two CPU processes (gloo) equals one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.conftest import DEMO


@pytest.fixture(scope="module")
def tiny_bert_without_dropout(tmp_path_factory):
    # Each process draws its own dropout masks, so exact equality needs a model without dropout.
    from transformers import AutoTokenizer, BertConfig, BertModel

    from whet.models.pretrained import resolve_model

    path = tmp_path_factory.mktemp("tiny-bert-no-dropout")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("builtin:minilm"))
    tokenizer.save_pretrained(path)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(path)
    return path


def run(tmp_path, model, name, grad_accum, processes, trackers=(), **training):
    # Trackers only where a test checks them: each costs a few seconds of imports per process.
    raw = {"task": "token-classification", "model": str(model),
           "data": {"train": str(DEMO / "ner" / "train.conll"), "dev": str(DEMO / "ner" / "dev.conll")},
           "training": {"max_steps": 6, "lr": 3e-3, "batch_size": 8, "grad_accum": grad_accum, "seed": 5,
                        "warmup_ratio": 0.0, **training},
           "output": {"dir": str(tmp_path / name), "trackers": list(trackers)}}
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "whet", "train", str(config), "--processes", str(processes)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def side_by_side(single: dict, double: dict) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """The one-process and the two-process run, started together: most of each run is Python
    starting and importing torch, which overlaps on two cores (one rendezvous, the double's)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(run, **single), pool.submit(run, **double)]
    return futures[0].result(), futures[1].result()


def test_two_processes_equal_one_with_the_same_global_batch(tmp_path, tiny_bert_without_dropout):
    from mlflow.tracking import MlflowClient

    model = tiny_bert_without_dropout
    single, double = side_by_side(
        {"tmp_path": tmp_path, "model": model, "name": "single", "grad_accum": 2, "processes": 1},
        {"tmp_path": tmp_path, "model": model, "name": "double", "grad_accum": 1, "processes": 2,
         "trackers": ("tensorboard", "mlflow")})
    single_results = json.loads(single.stdout.strip().splitlines()[-1])
    double_lines = [line for line in double.stdout.strip().splitlines() if line.startswith("{")]
    assert len(double_lines) == 1  # results printed by rank zero only
    double_results = json.loads(double_lines[0])
    assert double_results["best_step"] == single_results["best_step"] == 6
    assert double_results["dev"]["loss"] == pytest.approx(single_results["dev"]["loss"], rel=1e-4)
    one = load_file(str(tmp_path / "single" / "model" / "model.safetensors"))
    two = load_file(str(tmp_path / "double" / "model" / "model.safetensors"))
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5, msg=name)
    # Rank zero alone writes: one event file, one MLflow run, one set of reports, no leftover temporary files.
    assert len(list((tmp_path / "double" / "tensorboard").glob("events.out.tfevents.*"))) == 1
    client = MlflowClient(f"sqlite:///{tmp_path / 'double' / 'mlflow.db'}")
    (tracked,) = client.search_runs([client.get_experiment_by_name("whet").experiment_id])
    assert len(client.get_metric_history(tracked.info.run_id, "train/loss")) == 1  # step 6 (log_every 20, eval)
    for line in ("model saved to", "train / 100 dev examples", "Entities"):
        outputs = [done.stdout + done.stderr for done in (single, double)]
        assert outputs[1].count(line) == outputs[0].count(line) >= 1, line
    assert not list((tmp_path / "double").rglob("*.tmp"))


@pytest.mark.slow
def test_adversarial_passes_in_two_processes_equal_one_with_the_same_global_batch(tmp_path, tiny_bert_without_dropout):
    # Each process perturbs its own sequences, as one process does each micro-batch; the passes'
    # summed gradients are all-reduced once per optimizer step. FreeLB stands for the methods:
    # several forward and backward passes a batch, each backward but the last kept local, the path
    # FGM and PGD take too (test_adversarial_training.py checks each in one process). FreeLB starts
    # from no noise here: each process would draw its own. The sizes are scaled to the tiny model's
    # embeddings (about 0.4 a sentence, against 4 for MiniLM's, which the defaults are made for). In float32, and
    # compared a little more loosely than plain training: AdamW turns the rounding noise of
    # parameters whose true gradient is zero (the attention key biases, rare embedding rows) into
    # updates of about 2e-5, and the passes sum in another order in the two runs; a gradient
    # counted twice or left out would move the weights by about the learning rate (3e-3) a step.
    settings = {"method": "freelb", "alpha": 0.03, "init_magnitude": 0.0}
    shared = {"tmp_path": tmp_path, "model": tiny_bert_without_dropout, "adversarial": settings, "precision": "fp32"}
    single, double = side_by_side({**shared, "name": "single", "grad_accum": 2, "processes": 1},
                                  {**shared, "name": "double", "grad_accum": 1, "processes": 2})
    one = load_file(str(tmp_path / "single" / "model" / "model.safetensors"))
    two = load_file(str(tmp_path / "double" / "model" / "model.safetensors"))
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-3, atol=2e-4,
                                   msg=lambda text, name=name: f"{name}: {text}")
    single_loss = json.loads(single.stdout.strip().splitlines()[-1])["dev"]["loss"]
    double_loss = json.loads([line for line in double.stdout.splitlines() if line.startswith("{")][0])["dev"]["loss"]
    assert double_loss == pytest.approx(single_loss, rel=1e-3)
