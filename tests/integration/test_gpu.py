"""Training, prediction, generation and a launched run on a CUDA device, checked to run there.

The rest of the suite uses a GPU too when torch sees one, but it passes just the same on a CPU,
so it cannot tell a GPU run from one that fell back to the CPU. These tests check the device
and fail without a CUDA device rather than skip. They are marked ``gpu``, which the suite leaves
out unless the marker expression names it (``tests/conftest.py``): run them with
``pytest -m gpu``, as ``benchmarks/gpu_check.sh`` does.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import whet.training.loop
from tests.conftest import ROOT
from tests.integration.test_causal_lm import PATTERNS, run_config, write_jsonl
from tests.integration.test_training import make_config
from whet import load
from whet.config import load_config
from whet.generate import GenerationSettings, generate, load_generator
from whet.train import train

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module", autouse=True)
def cuda() -> None:
    if not torch.cuda.is_available():
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU build"
        pytest.fail(f"no CUDA device: torch {torch.__version__} ({build}) sees none, and these tests check "
                    f"that work runs on one", pytrace=False)


def on_cuda(model: torch.nn.Module) -> bool:
    return {p.device.type for p in model.parameters()} == {"cuda"}


@pytest.fixture(scope="module")
def ner_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny BERT trained for NER on the GPU, in bf16 where it has bf16, recording the device
    and precision of every autocast."""
    precision = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    tmp = tmp_path_factory.mktemp("gpu-ner")
    autocasts = []
    real = whet.training.loop.autocast

    def recording(device: torch.device, precision: str):
        autocasts.append((device.type, precision))
        return real(device, precision)

    events = []
    config = load_config(make_config(tmp, tiny_bert, "run", training={"epochs": 2, "eval_every": None,
                                                                       "precision": precision}))
    torch.cuda.reset_peak_memory_stats()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(whet.training.loop, "autocast", recording)
        results = train(config, on_step=events.append)
    return {"precision": precision, "results": results, "events": events, "autocasts": autocasts,
            "peak": torch.cuda.max_memory_allocated(), "model": tmp / "run" / "model"}


def test_bf16_training_runs_on_cuda_and_saves_float32_weights(ner_run):
    if ner_run["precision"] != "bf16":
        pytest.skip(f"{torch.cuda.get_device_name()} has no bf16")
    assert ner_run["autocasts"] and set(ner_run["autocasts"]) == {("cuda", "bf16")}
    assert ner_run["peak"] > 0
    losses = [e.loss for e in ner_run["events"]]
    assert all(math.isfinite(loss) for loss in losses)
    assert sum(losses[-3:]) < sum(losses[:3])
    weights = load_file(str(ner_run["model"] / "model.safetensors"))
    assert {str(w.dtype) for w in weights.values()} == {"torch.float32"}


def test_prediction_runs_on_cuda(ner_run):
    model = load(str(ner_run["model"]))
    assert model.device.type == "cuda" and on_cuda(model.model)
    [prediction] = model.predict(["Maria Lopez bought a Pixel phone from Northwind Traders in Lisbon."])
    assert prediction["text"].startswith("Maria Lopez")
    for entity in prediction["entities"]:
        assert entity["type"] in {"PER", "ORG", "LOC", "PRODUCT"} and 0 <= entity["score"] <= 1


def test_causal_lm_learns_on_cuda_and_generates_the_pattern(tiny_gpt2: Path, tmp_path: Path):
    # The CPU suite's pattern run (tests/integration/test_causal_lm.py), here on the GPU.
    rows = [{"prompt": p, "response": r} for p, r in PATTERNS.items()] * 8
    data = {"train": write_jsonl(tmp_path / "train.jsonl", rows), "dev": write_jsonl(tmp_path / "dev.jsonl", rows[:3])}
    # float32 as there, so that the same 120 steps learn the pattern (bf16 training is checked above).
    config = run_config(tmp_path, "run", tiny_gpt2, data,
                        training={"max_steps": 120, "eval_every": 1000, "precision": "fp32"},
                        eval={"generate": True, "max_new_tokens": 8})
    results = train(load_config(config))
    assert results["dev"]["exact_match"] == 1.0
    model, tokenizer = load_generator(tmp_path / "run" / "model")
    assert on_cuda(model)
    assert generate(model, tokenizer, list(PATTERNS), GenerationSettings(max_new_tokens=8)) == list(PATTERNS.values())


# Run in the process torchrun starts, as `whet train --processes N` does: accelerate reads the rank
# from the environment. Rank zero reports how it ran.
LAUNCHED = """
import json, sys
import torch, torch.distributed as dist
from accelerate import PartialState
from whet.config import load_config
from whet.train import train

results = train(load_config(sys.argv[1]))
if dist.get_rank() == 0:
    print("LAUNCHED " + json.dumps({"backend": dist.get_backend(), "world": dist.get_world_size(),
                                    "device": PartialState().device.type, "peak": torch.cuda.max_memory_allocated(),
                                    "best_step": results["best_step"]}))
"""


def test_a_launched_run_trains_on_one_gpu_through_nccl(tiny_bert: Path, tmp_path: Path):
    config = make_config(tmp_path, tiny_bert, "launched", training={"max_steps": 6, "eval_every": None})
    script = tmp_path / "launched.py"
    script.write_text(LAUNCHED, encoding="utf-8")
    path = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
                           str(script), str(config)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("LAUNCHED ")]
    report = json.loads(line.removeprefix("LAUNCHED "))
    assert "nccl" in report["backend"] and report["world"] == 1 and report["device"] == "cuda"
    assert report["peak"] > 0 and report["best_step"] == 6
    assert (tmp_path / "launched" / "model" / "model.safetensors").is_file()
