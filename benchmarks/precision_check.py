"""Benchmark: a NER model's predictions and dev F1 in fp32 against ``--precision auto`` (bf16 autocast where chosen).

    .venv/bin/python benchmarks/train_ner.py --data ../shared/data/conll2003 --max-sentences 2000 --epochs 1 --set training.precision=fp32 --output /tmp/whet-precision-run
    .venv/bin/python benchmarks/precision_check.py --data ../shared/data/conll2003 --model /tmp/whet-precision-run/model

``--model`` is a token-classification model directory saved by ``whet train``. Both sides load
it with ``whet.load(MODEL, precision=...)``, once with ``fp32`` and once with ``auto`` (what
``whet predict``, ``whet eval`` and ``whet serve`` do by default), and predict on the words of
every dev sentence (``{"tokens": [...]}`` records, as ``whet eval`` reads the file).

Figures (a table, then one JSON line starting with ``RESULT ``):

- what ``auto`` resolved to on this machine, and why (``whet.models.precision.auto_precision``);
- dev entity micro F1 of each, as ``whet eval`` reports it (``Predictor.evaluate``), and the
  difference auto - fp32 in F1 points (x 100);
- the number of dev sentences whose predicted tags differ between the two;
- sentences/s of ``predict`` on all dev sentences, batch size 64: each side first predicts on 8
  sentences (thread pool start, kernel selection), then the two are timed in turn ``--repeats``
  times and the fastest of each is kept (model loading is not counted).
"""

from __future__ import annotations

import os

# A local model directory only; nothing should reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

# Reused from the training benchmark next to this file.
from train_ner import print_table, write_subset

WARMUP_SENTENCES = 8
SIDES = ("fp32", "auto")


def main() -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="Folder with dev.txt (CoNLL-2003).")
    parser.add_argument("--model", required=True, type=Path, help="A token-classification model saved by whet train.")
    parser.add_argument("--max-sentences", type=int, default=None, help="Use the first N dev sentences (default: all).")
    parser.add_argument("--batch-size", type=int, default=64, help="Most sentences per batch (default 64).")
    parser.add_argument("--repeats", type=int, default=3, help="Timed predictions of each side (default 3).")
    args = parser.parse_args()

    # INFO for whet: the line saying what auto chose and why.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("whet").setLevel(logging.INFO)

    import torch

    import whet
    from whet.data.conll import read_conll
    from whet.models.precision import auto_precision

    dev_path = args.data.resolve() / "dev.txt"
    if not dev_path.is_file():
        parser.error(f"{dev_path} not found; --data must be the folder holding dev.txt")
    if not (args.model / "whet.json").is_file():
        parser.error(f"--model {args.model}: no whet.json there; give the 'model' directory of a whet run")

    with tempfile.TemporaryDirectory(prefix="whet-precision-check-") as tmp:
        if args.max_sentences is not None:
            write_subset(dev_path, Path(tmp) / "dev_subset.txt", args.max_sentences)
            dev_path = Path(tmp) / "dev_subset.txt"
        records = [{"tokens": sentence.tokens} for sentence in read_conll(dev_path)]
        predictors = {side: whet.load(str(args.model), precision=side) for side in SIDES}
        f1 = {side: predictor.evaluate(str(dev_path), batch_size=args.batch_size)["entity"]["micro"]["f1"]
              for side, predictor in predictors.items()}

    seconds: dict[str, list[float]] = {side: [] for side in SIDES}
    tags: dict[str, list[list[str]]] = {}
    for predictor in predictors.values():
        predictor.predict(records[:WARMUP_SENTENCES], batch_size=args.batch_size)
    for _ in range(args.repeats):  # in turn, so that both see the same machine
        for side, predictor in predictors.items():
            begun = time.perf_counter()
            output = predictor.predict(records, batch_size=args.batch_size)
            seconds[side].append(time.perf_counter() - begun)
            tags[side] = [record["tags"] for record in output]

    differing = sum(a != b for a, b in zip(tags["fp32"], tags["auto"]))
    speed = {side: len(records) / min(times) for side, times in seconds.items()}
    resolved = {side: predictor.precision for side, predictor in predictors.items()}
    auto_choice, auto_reason = auto_precision(predictors["auto"].device.type)
    print_table("precision_check.py summary", ["precision", "runs in", "dev entity F1", "sentences/s", "timed s"],
                [[side, resolved[side], f"{f1[side]:.4f}", f"{speed[side]:.1f}",
                  ", ".join(f"{s:.2f}" for s in seconds[side])] for side in SIDES])
    print(f"auto: {auto_choice} ({auto_reason})")
    print(f"F1 auto - fp32: {100 * (f1['auto'] - f1['fp32']):+.3f} points; predicted tags differ in {differing} of "
          f"{len(records)} sentences; auto / fp32 sentences/s: {speed['auto'] / speed['fp32']:.2f}x")

    figures = {
        "command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
        "model": str(args.model), "sentences": len(records), "batch_size": args.batch_size, "repeats": args.repeats,
        "auto_resolved": auto_choice, "auto_reason": auto_reason,
        "f1": {side: round(f1[side], 4) for side in SIDES},
        "f1_difference_points": round(100 * (f1["auto"] - f1["fp32"]), 3),
        "sentences_differing": differing,
        "sentences_per_s": {side: round(speed[side], 1) for side in SIDES},
        "auto_over_fp32_speed": round(speed["auto"] / speed["fp32"], 3),
        "predict_seconds": {side: [round(s, 3) for s in times] for side, times in seconds.items()},
        "wall_s": round(time.perf_counter() - started, 1),
        "device": predictors["auto"].device.type, "nproc": os.cpu_count(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
    }
    print("RESULT " + json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
