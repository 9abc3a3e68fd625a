"""A run interrupted and resumed ends exactly where the uninterrupted run ends, for the
adapter methods (whose checkpoints hold only the trainable weights) and for a run in two
processes; and resuming without a checkpoint, or from one of another method, is refused.

Full fine-tuning is covered in test_training.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import DEMO, write_config
from whet.config import load_config
from whet.errors import Interrupted, WhetError
from whet.train import train
from whet.training.interrupt import STOP

INTERRUPT_AT = 4  # mid-epoch (3 batches of 16 per epoch) and between two evaluations (every 3 steps)


def small_copy(source: Path, target: Path, lines: int) -> str:
    target.write_text("".join(source.read_text(encoding="utf-8").splitlines(keepends=True)[:lines]),
                      encoding="utf-8")
    return str(target)


def run_config(tmp_path: Path, model: Path, name: str, task: str, method: dict, trackers=("tensorboard",)) -> Path:
    """48 training examples, 8 steps over three epochs, dev scored every 3 steps."""
    folder = "instructions" if task == "causal-lm" else "intents"
    raw = {"task": task, "model": str(model),
           "data": {"train": small_copy(DEMO / folder / "train.jsonl", tmp_path / f"{folder}-train.jsonl", 48),
                    "dev": small_copy(DEMO / folder / "dev.jsonl", tmp_path / f"{folder}-dev.jsonl", 20)},
           "method": method,
           "training": {"max_steps": 8, "lr": 1e-2, "batch_size": 16, "eval_every": 3, "warmup_ratio": 0.25,
                        "log_every": 1, "seed": 11},
           "output": {"dir": str(tmp_path / name), "trackers": list(trackers)}}
    return write_config(tmp_path, name, raw, {})


def stop_at(step: int):
    def on_step(event) -> None:
        if event.step == step:
            STOP.set()
    return on_step


def saved_tensors(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Every safetensors file of a finished run: its last checkpoint and its saved model."""
    files = [run_dir / "checkpoints" / "last" / "trainable.safetensors", *(run_dir / "model").glob("*.safetensors")]
    return {str(path.relative_to(run_dir)): load_file(str(path)) for path in files}


def assert_same_tensors(straight: dict, resumed: dict) -> None:
    assert straight.keys() == resumed.keys()
    for file, tensors in straight.items():
        assert tensors.keys() == resumed[file].keys(), file
        for name, tensor in tensors.items():
            assert torch.equal(tensor, resumed[file][name]), f"{file}: {name}"


METHODS = [
    pytest.param("sequence-classification", {"name": "lora", "lora": {"r": 4}}, id="lora"),
    pytest.param("sequence-classification", {"name": "prompt-tuning", "prompt_tuning": {"num_virtual_tokens": 4}},
                 id="prompt-tuning"),
    pytest.param("causal-lm", {"name": "prefix-tuning", "prefix_tuning": {"num_virtual_tokens": 4}},
                 id="prefix-tuning-causal-lm"),
    pytest.param("sequence-classification", {"name": "bottleneck", "bottleneck": {"size": 8}}, id="bottleneck"),
]


@pytest.mark.parametrize("task,method", METHODS)
def test_resumed_adapter_run_equals_the_uninterrupted_run(task, method, tiny_bert, tiny_gpt2, tmp_path):
    model = tiny_gpt2 if task == "causal-lm" else tiny_bert
    straight = train(load_config(run_config(tmp_path, model, "straight", task, method)))
    config_path = run_config(tmp_path, model, "interrupted", task, method)
    with pytest.raises(Interrupted, match=f"interrupted at step {INTERRUPT_AT}; continue with --resume"):
        train(load_config(config_path), on_step=stop_at(INTERRUPT_AT))
    interrupted = load_file(str(tmp_path / "interrupted" / "checkpoints" / "last" / "trainable.safetensors"))
    resumed = train(load_config(config_path), resume=True)

    assert resumed == straight
    final = saved_tensors(tmp_path / "straight")
    assert_same_tensors(final, saved_tensors(tmp_path / "interrupted"))
    # The checkpoint resumed from was not yet the final state: the resumed steps trained the method's weights.
    last = final["checkpoints/last/trainable.safetensors"]
    assert interrupted.keys() == last.keys()
    assert any(not torch.equal(interrupted[name], last[name]) for name in last)
    history = json.loads((tmp_path / "interrupted" / "checkpoints" / "last" / "state.json").read_text())["loop"]
    assert history["step"] == 8 and [e["step"] for e in history["history"] if "train_loss" in e] == list(range(1, 9))


def test_resume_without_a_checkpoint_is_refused(tiny_bert, tmp_path):
    config = load_config(run_config(tmp_path, tiny_bert, "fresh", "sequence-classification", {"name": "lora"}))
    with pytest.raises(WhetError, match=r"no checkpoint to resume from in .*fresh/checkpoints/last; "
                                        r"start the run without --resume"):
        train(config, resume=True)


@pytest.mark.parametrize("override,difference", [
    ("method.name=bottleneck", r"18 parameters missing, e\.g\. bert\..*bottleneck_adapter\.down\.weight"),
    ("method.lora.target_modules=[key,value]", r"4 parameters missing, e\.g\. .*\.key\.lora_A\.default\.weight"),
    ("method.lora.target_modules=[query]",
     r"4 parameters this model does not train, e\.g\. .*\.value\.lora_A\.default\.weight"),
])
def test_resume_with_another_method_is_refused(override, difference, tiny_bert, tmp_path):
    method = {"name": "lora"}  # no lora section: with one, method.name=bottleneck would be refused as a config error
    config_path = run_config(tmp_path, tiny_bert, "changed", "sequence-classification", method)
    with pytest.raises(Interrupted):
        train(load_config(config_path), on_step=stop_at(2))
    with pytest.raises(WhetError, match=rf"checkpoint .*changed/checkpoints/last does not match this model "
                                        rf"\({difference}\); was the config's model or method changed\?"):
        train(load_config(config_path, [override]), resume=True)


def test_resume_with_another_adapter_size_is_refused(tiny_bert, tmp_path):
    config_path = run_config(tmp_path, tiny_bert, "resized", "sequence-classification",
                             {"name": "bottleneck", "bottleneck": {"size": 8}})
    with pytest.raises(Interrupted):
        train(load_config(config_path), on_step=stop_at(2))
    with pytest.raises(WhetError, match=r"checkpoint .*resized/checkpoints/last does not match this model "
                                        r"\(.*bottleneck_adapter\.down\.weight has shape \[8, 32\] there, "
                                        r"\[16, 32\] here\); was the config's model or method changed\?"):
        train(load_config(config_path, ["method.bottleneck.size=16"]), resume=True)


# -- two processes ---------------------------------------------------------------------------------------

# Runs one process of a distributed run that stops itself after a given step, as Ctrl-C would.
INTERRUPTING_PROCESS = """
import sys
from whet.config import load_config
from whet.errors import Interrupted
from whet.train import train
from whet.training.interrupt import STOP

def on_step(event):
    if event.step == int(sys.argv[2]):
        STOP.set()

try:
    train(load_config(sys.argv[1]), on_step=on_step)
except Interrupted:
    sys.exit(130)
"""


def run_processes(command: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow  # three two-process runs: about 30 s
def test_resumed_two_process_run_equals_the_uninterrupted_run(tiny_bert, tmp_path):
    method = {"name": "lora", "lora": {"r": 4}}
    # No trackers: each process would spend seconds importing one.
    straight = run_config(tmp_path, tiny_bert, "straight", "sequence-classification", method, trackers=())
    interrupted = run_config(tmp_path, tiny_bert, "interrupted", "sequence-classification", method, trackers=())
    whet = [sys.executable, "-m", "whet", "train"]
    done = run_processes([*whet, str(straight), "--processes", "2"])
    assert done.returncode == 0, done.stderr[-3000:]
    straight_results = json.loads(done.stdout.strip().splitlines()[-1])

    script = tmp_path / "interrupting_process.py"
    script.write_text(textwrap.dedent(INTERRUPTING_PROCESS), encoding="utf-8")
    stopped = run_processes([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             str(script), str(interrupted), "2"])
    assert stopped.returncode != 0, "the run was not interrupted"
    state = json.loads((tmp_path / "interrupted" / "checkpoints" / "last" / "state.json").read_text())
    assert state["loop"]["step"] == 2

    done = run_processes([*whet, str(interrupted), "--processes", "2", "--resume"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == straight_results
    assert_same_tensors(saved_tensors(tmp_path / "straight"), saved_tensors(tmp_path / "interrupted"))
