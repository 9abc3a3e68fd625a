"""Benchmark: peak memory and step time of causal-LM fine-tuning, with and without gradient checkpointing.

    .venv/bin/python benchmarks/memory_causal_lm.py

About 6 minutes on 2 CPU cores. A GPT-2-small-sized model (``GPT2Config`` defaults: 12 layers,
hidden 768, 1,024 positions, a 50,257-row vocabulary, 124M parameters) with random weights and a
word-level tokenizer is saved to a temp dir. Each configuration (``--methods``: full fine-tuning,
LoRA and prompt tuning at whet's defaults, each with ``training.gradient_checkpointing`` off and
on) then runs ``whet.train.train`` from a YAML config in a fresh Python process, so its memory
is its own: the model is loaded from the directory as a user's would be, and the run trains
``--steps`` + 2 optimizer steps on documents of exactly ``--seq-length`` tokens in batches of
``--batch-size`` (prompt tuning puts its 20 virtual tokens before them), then scores a
one-document dev set and saves the model.

Figures per configuration, from Linux's high-water mark of the process's resident memory
(``VmHWM``; the parent script never imports torch, so nothing of it is counted):

- with model: RSS when the optimizer is built (model loaded, method applied, no gradient or
  optimizer state yet), once every weight has been read: they are mapped from the safetensors
  file and resident only once touched. The high-water mark is reset there
  (``/proc/self/clear_refs``).
- training peak: the high-water mark from there to the last optimizer step: weights, gradients,
  optimizer state and activations. "Above model" is the training peak less the RSS with model.
- process peak: the whole run's high-water mark, loading (which briefly holds a second copy
  of the weights), evaluation and saving included.
- step time: the median gap between consecutive optimizer steps, leaving out the first step
  (warm-up) and the last (it also evaluates).

Printed: the table, each method's checkpointing saving and slow-down, LoRA and prompt tuning
with checkpointing against full fine-tuning without it, then one JSON line starting with
``RESULT``.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from train_ner import StepTimer, current_rss_mib, print_table

METHODS = ("full", "lora", "prompt-tuning")
WORDS = 2000  # the tokenizer's vocabulary: one token per word, so a document's length is exact
CHILD_RESULT = "CHILD_RESULT "


def peak_rss_mib() -> float:
    """This process's high-water mark of resident memory (Linux ``VmHWM``), in MiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def build_model(directory: Path) -> dict:
    """Save a random GPT-2-small-sized model and a word-level tokenizer; return the machine's facts."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {"<|endoftext|>": 0, **{f"w{i}": i + 1 for i in range(WORDS)}}
    word_level = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    word_level.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=word_level, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                            unk_token="<|endoftext|>").save_pretrained(directory)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(bos_token_id=0, eos_token_id=0))
    model.save_pretrained(directory)
    return {"parameters": sum(p.numel() for p in model.parameters()), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "amx": bool(torch.cpu._is_amx_tile_supported()),
            "cpu": platform.processor() or platform.machine(), "nproc": os.cpu_count(),
            "python": platform.python_version()}


def write_documents(path: Path, count: int, tokens: int, seed: int) -> None:
    """``count`` documents of random words, each ``tokens`` tokens with its end-of-sequence token."""
    rng = random.Random(seed)
    documents = (" ".join(f"w{rng.randrange(WORDS)}" for _ in range(tokens - 1)) for _ in range(count))
    path.write_text("\n\n".join(documents) + "\n", encoding="utf-8")


def reset_peak_rss() -> None:
    """Start a new high-water mark of resident memory at the current RSS (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def run_configuration(config_path: Path) -> dict:
    """Train as the config says (in this fresh process) and measure it."""
    import torch

    import whet.train
    import whet.training.fit
    from whet.config import load_config
    from whet.methods.trainable import count_parameters

    at_model: dict[str, float] = {}
    build_optimizer = whet.training.fit.build_optimizer

    def measuring_build_optimizer(model, **kwargs):
        # The weights are mapped from the safetensors file and become resident when first read;
        # read them all now, so the baseline holds the whole model, as every training step does.
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.sum()
        at_model["loading_peak_mib"], at_model["rss_mib"] = peak_rss_mib(), current_rss_mib()
        at_model["trainable"], at_model["total"] = count_parameters(model)
        reset_peak_rss()
        return build_optimizer(model, **kwargs)

    # fit() builds the optimizer once the model is loaded and the method applied: the baseline.
    whet.training.fit.build_optimizer = measuring_build_optimizer
    timer = StepTimer()
    training_peak = 0.0

    def on_step(event) -> None:
        nonlocal training_peak
        timer(event)
        training_peak = peak_rss_mib()

    whet.train.train(load_config(config_path), on_step=on_step)
    return {"model_rss_mib": round(at_model["rss_mib"], 1), "training_peak_mib": round(training_peak, 1),
            "above_model_mib": round(training_peak - at_model["rss_mib"], 1),
            "process_peak_mib": round(max(at_model["loading_peak_mib"], peak_rss_mib()), 1),
            "trainable_parameters": at_model["trainable"], "total_parameters": at_model["total"],
            "timed_steps": [round(s, 3) for s in timer.plain_steps],
            "median_step_s": round(statistics.median(timer.plain_steps), 3)}


def child(*args: str) -> dict:
    """Run this script in a fresh process with ``args``; return the JSON it reports."""
    result = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    lines = [line for line in result.stdout.splitlines() if line.startswith(CHILD_RESULT)]
    if result.returncode != 0 or not lines:
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"{' '.join(args)}: the child process failed (exit {result.returncode})")
    return json.loads(lines[-1].removeprefix(CHILD_RESULT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seq-length", type=int, default=512, help="Tokens per training sequence (default 512).")
    parser.add_argument("--batch-size", type=int, default=2, help="Sequences per batch (default 2).")
    parser.add_argument("--steps", type=int, default=4,
                        help="Timed optimizer steps, after one warm-up step and before a final one (default 4).")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"Comma-separated (default {','.join(METHODS)}).")
    parser.add_argument("--build-model", type=Path, help=argparse.SUPPRESS)  # in a child process
    parser.add_argument("--run-config", type=Path, help=argparse.SUPPRESS)  # in a child process
    args = parser.parse_args()

    if args.build_model:
        print(CHILD_RESULT + json.dumps(build_model(args.build_model)))
        return 0
    if args.run_config:
        print(CHILD_RESULT + json.dumps(run_configuration(args.run_config)))
        return 0

    started = time.perf_counter()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="whet-bench-memory-") as tmp_name:
        tmp = Path(tmp_name)
        machine = child("--build-model", str(tmp / "model"))
        write_documents(tmp / "train.txt", args.batch_size * (args.steps + 2), args.seq_length, seed=0)
        write_documents(tmp / "dev.txt", 1, args.seq_length, seed=1)
        for method in methods:
            for checkpointing in (False, True):
                name = f"{method}{' + checkpointing' if checkpointing else ''}"
                raw = {"task": "causal-lm", "model": str(tmp / "model"),
                       "data": {"train": str(tmp / "train.txt"), "dev": str(tmp / "dev.txt"),
                                "max_length": args.seq_length},
                       "method": {"name": method},
                       "training": {"batch_size": args.batch_size, "max_steps": args.steps + 2,
                                    "gradient_checkpointing": checkpointing, "log_every": 1},
                       "output": {"dir": str(tmp / "runs" / name.replace(" + ", "-"))}}
                config_path = tmp / f"{name.replace(' + ', '-')}.yaml"
                config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
                figures = child("--run-config", str(config_path))
                rows.append({"configuration": name, "method": method, "checkpointing": checkpointing, **figures})
                print(f"{name}: training peak {figures['training_peak_mib']:.0f} MiB, "
                      f"median step {figures['median_step_s']:.2f} s",
                      file=sys.stderr, flush=True)

    by_name = {row["configuration"]: row for row in rows}
    print_table(f"GPT-2-small-sized causal LM ({machine['parameters']:,} parameters, random weights), "
                f"batches of {args.batch_size} x {args.seq_length} tokens, {machine['torch_threads']} torch threads",
                ["configuration", "trainable", "with model MiB", "training peak MiB", "above model MiB",
                 "process peak MiB", "median step s"],
                [[row["configuration"], f"{row['trainable_parameters'] / row['total_parameters']:.2%}",
                  f"{row['model_rss_mib']:,.0f}", f"{row['training_peak_mib']:,.0f}",
                  f"{row['above_model_mib']:,.0f}", f"{row['process_peak_mib']:,.0f}", f"{row['median_step_s']:.2f}"]
                 for row in rows])

    def compare(on: dict, off: dict) -> dict:
        return {"training_peak_ratio": round(on["training_peak_mib"] / off["training_peak_mib"], 3),
                "above_model_ratio": round(on["above_model_mib"] / off["above_model_mib"], 3),
                "training_peak_saved_mib": round(off["training_peak_mib"] - on["training_peak_mib"], 1),
                "step_time_ratio": round(on["median_step_s"] / off["median_step_s"], 3)}

    comparisons = {}
    print()
    for method in methods:
        c = comparisons[method] = compare(by_name[f"{method} + checkpointing"], by_name[method])
        print(f"{method}: checkpointing saves {c['training_peak_saved_mib']:,.0f} MiB of training peak "
              f"(x{c['training_peak_ratio']:.2f}; above model x{c['above_model_ratio']:.2f}) "
              f"for x{c['step_time_ratio']:.2f} step time")
    if "full" in methods:
        for method in (m for m in methods if m != "full"):
            c = comparisons[f"{method}_checkpointing_vs_full"] = compare(by_name[f"{method} + checkpointing"],
                                                                         by_name["full"])
            print(f"{method} + checkpointing against full without: training peak x{c['training_peak_ratio']:.2f} "
                  f"(above model x{c['above_model_ratio']:.2f}), step time x{c['step_time_ratio']:.2f}")

    result = {"command": " ".join([".venv/bin/python", "benchmarks/memory_causal_lm.py", *sys.argv[1:]]),
              "seq_length": args.seq_length, "batch_size": args.batch_size, "timed_steps": args.steps,
              "configurations": rows, "comparisons": comparisons, "machine": machine,
              "wall_s": round(time.perf_counter() - started, 1)}
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
