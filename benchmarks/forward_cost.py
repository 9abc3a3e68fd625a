"""Benchmark: what a forward pass costs, split into a fixed cost per pass and a cost per token.

    .venv/bin/python benchmarks/forward_cost.py --model runs/demo-intents/model
    .venv/bin/python benchmarks/forward_cost.py --model runs/demo-intents/model --precision bf16

Prediction cuts each length-sorted batch into forward passes where the padding saved is worth
another pass (``whet.data.token_batches.padding_aware_batches``); the fixed cost of a pass, in tokens'
worth, is ``whet.models.inference.batch_overhead_tokens``. This measures it on the machine at hand:
the model's forward pass (no gradients, and under bf16 autocast where ``--precision`` resolves
to bf16, as in prediction) on random ids for a grid of batch sizes and lengths, the median of
``--repeats`` timings each, then a least-squares fit ``seconds = overhead + per_token * padded
tokens``. Printed: the grid, the fit, the overhead
in tokens' worth next to the value whet uses, and one JSON line starting with ``RESULT``.

Under bf16 a loaded model holds its Linear weights in bf16 (``cast_linear_weights_for_autocast``,
before its first prediction); each shape is also timed, interleaved, on the same model with
float32 weights, which autocast casts at every call: that grid's fit and the ratio per shape are
printed beside.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from train_ner import print_table

BATCHES = (1, 2, 4, 8, 16, 32, 64)
LENGTHS = (16, 32, 64)


def time_forward(model, batch: int, length: int, repeats: int, vocab: int, precision: str) -> float:
    from whet.models.inference import autocast

    ids = torch.randint(1000, vocab, (batch, length), generator=torch.Generator().manual_seed(batch * length))
    mask = torch.ones_like(ids)
    with torch.inference_mode(), autocast(torch.device("cpu"), precision):
        model(input_ids=ids, attention_mask=mask)  # warm-up for this shape
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            model(input_ids=ids, attention_mask=mask)
            timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="A model directory saved by whet train.")
    parser.add_argument("--repeats", type=int, default=15, help="Timings per shape; the median is kept (default 15).")
    parser.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16"],
                        help="What the forward passes run in, as whet predict --precision (default fp32).")
    args = parser.parse_args()

    from whet import load
    from whet.models.inference import batch_overhead_tokens

    predictor = load(str(args.model), precision=args.precision)
    model = predictor._ready_model().eval()  # the model as predictions run it (bf16 weights under bf16)
    reference = None
    if any(isinstance(m, torch.nn.Linear) and m.weight.dtype == torch.bfloat16 for m in model.modules()):
        from whet.models.saved_model import load_saved_model

        reference = load_saved_model(args.model)[0].eval()  # float32 weights, cast by autocast at each call
    vocab = min(predictor.tokenizer.vocab_size, 20000)
    # The first passes after loading take many times longer than the rest (seen at 1 x 16 and
    # 2 x 16 on a CPU with AMX): a few passes before any timing.
    for warmed in (model, reference):
        if warmed is not None:
            time_forward(warmed, 4, 16, 5, vocab, predictor.precision)
    rows = []
    for length in LENGTHS:
        for batch in BATCHES:
            seconds = time_forward(model, batch, length, args.repeats, vocab, predictor.precision)
            row = {"batch": batch, "length": length, "tokens": batch * length, "ms": round(seconds * 1000, 2)}
            if reference is not None:
                row["ms_cast_each_call"] = round(
                    time_forward(reference, batch, length, args.repeats, vocab, predictor.precision) * 1000, 2)
            rows.append(row)
            print(f"{batch} x {length}: {seconds * 1000:.2f} ms", file=sys.stderr, flush=True)
    tokens = np.array([r["tokens"] for r in rows], dtype=float)
    seconds = np.array([r["ms"] for r in rows]) / 1000
    per_token, overhead = np.polyfit(tokens, seconds, 1)
    fitted = overhead + per_token * tokens
    worst = float(np.max(np.abs(fitted - seconds) / seconds))
    used = batch_overhead_tokens(predictor.device, predictor.precision)

    columns, extra = ["batch x length", "padded tokens", "ms", "fit ms"], [[] for _ in rows]
    if reference is not None:
        columns += ["ms, weights cast each call", "ratio"]
        extra = [[f"{r['ms_cast_each_call']:.2f}", f"{r['ms_cast_each_call'] / r['ms']:.2f}x"] for r in rows]
    print_table(f"forward pass of {args.model} ({predictor.precision}, {torch.get_num_threads()} torch threads), "
                f"median of {args.repeats}", columns,
                [[f"{r['batch']} x {r['length']}", str(r["tokens"]), f"{r['ms']:.2f}", f"{f * 1000:.2f}", *more]
                 for r, f, more in zip(rows, fitted, extra)])
    print(f"\nfit: {overhead * 1000:.2f} ms per pass + {per_token * 1000:.4f} ms per padded token "
          f"(largest relative error {worst:.0%})")
    cast_each_call = None
    if reference is not None:
        slow = np.array([r["ms_cast_each_call"] for r in rows]) / 1000
        slow_per_token, slow_overhead = np.polyfit(tokens, slow, 1)
        cast_each_call = {"overhead_ms": round(slow_overhead * 1000, 3), "per_token_ms": round(slow_per_token * 1000, 5),
                          "overhead_tokens": round(slow_overhead / slow_per_token, 1),
                          "median_ratio": round(float(np.median(slow / seconds)), 3)}
        print(f"with the weights cast at each call: {slow_overhead * 1000:.2f} ms per pass + "
              f"{slow_per_token * 1000:.4f} ms per padded token; cast each call / cast once, median over the grid: "
              f"{cast_each_call['median_ratio']:.2f}x")
    print(f"a pass costs as much as {overhead / per_token:.0f} tokens; whet uses {used} on {predictor.device.type} "
          f"in {predictor.precision} "
          f"(ratio measured / used {overhead / per_token / used:.2f})")
    result = {"command": " ".join([".venv/bin/python", "benchmarks/forward_cost.py", *sys.argv[1:]]),
              "model": str(args.model), "precision": predictor.precision, "repeats": args.repeats, "grid": rows,
              "overhead_ms": round(overhead * 1000, 3), "per_token_ms": round(per_token * 1000, 5),
              "overhead_tokens": round(overhead / per_token, 1), "whet_overhead_tokens": used,
              "largest_relative_error": round(worst, 3), "cast_each_call": cast_each_call,
              "torch_threads": torch.get_num_threads(),
              "nproc": os.cpu_count(), "torch": torch.__version__}
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
