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
    model = predictor.model.eval()
    vocab = min(predictor.tokenizer.vocab_size, 20000)
    # The first passes after loading take many times longer than the rest (seen at 1 x 16 and
    # 2 x 16 on a CPU with AMX): a few passes before any timing.
    time_forward(model, 4, 16, 5, vocab, predictor.precision)
    rows = []
    for length in LENGTHS:
        for batch in BATCHES:
            seconds = time_forward(model, batch, length, args.repeats, vocab, predictor.precision)
            rows.append({"batch": batch, "length": length, "tokens": batch * length, "ms": round(seconds * 1000, 2)})
            print(f"{batch} x {length}: {seconds * 1000:.2f} ms", file=sys.stderr, flush=True)
    tokens = np.array([r["tokens"] for r in rows], dtype=float)
    seconds = np.array([r["ms"] for r in rows]) / 1000
    per_token, overhead = np.polyfit(tokens, seconds, 1)
    fitted = overhead + per_token * tokens
    worst = float(np.max(np.abs(fitted - seconds) / seconds))
    used = batch_overhead_tokens(predictor.device, predictor.precision)

    print_table(f"forward pass of {args.model} ({predictor.precision}, {torch.get_num_threads()} torch threads), "
                f"median of {args.repeats}",
                ["batch x length", "padded tokens", "ms", "fit ms"],
                [[f"{r['batch']} x {r['length']}", str(r["tokens"]), f"{r['ms']:.2f}", f"{f * 1000:.2f}"]
                 for r, f in zip(rows, fitted)])
    print(f"\nfit: {overhead * 1000:.2f} ms per pass + {per_token * 1000:.4f} ms per padded token "
          f"(largest relative error {worst:.0%})")
    print(f"a pass costs as much as {overhead / per_token:.0f} tokens; whet uses {used} on {predictor.device.type} "
          f"in {predictor.precision} "
          f"(ratio measured / used {overhead / per_token / used:.2f})")
    result = {"command": " ".join([".venv/bin/python", "benchmarks/forward_cost.py", *sys.argv[1:]]),
              "model": str(args.model), "precision": predictor.precision, "repeats": args.repeats, "grid": rows,
              "overhead_ms": round(overhead * 1000, 3), "per_token_ms": round(per_token * 1000, 5),
              "overhead_tokens": round(overhead / per_token, 1), "whet_overhead_tokens": used,
              "largest_relative_error": round(worst, 3), "torch_threads": torch.get_num_threads(),
              "nproc": os.cpu_count(), "torch": torch.__version__}
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
