"""Benchmark: NER prediction with ``whet.load(...).predict`` against the transformers pipeline, same model and inputs.

    .venv/bin/python benchmarks/compare_predict.py --data ../shared/data/conll2003 --model runs/conll2003-ner/model

Quick check (a tiny model and 64 sentences, well under a minute on 2 CPU cores):

    .venv/bin/whet train configs/demo-ner.yaml --set training.max_steps=3 -o /tmp/whet-smoke-ner
    .venv/bin/python benchmarks/compare_predict.py --data ../shared/data/conll2003 --model /tmp/whet-smoke-ner/model --max-sentences 64

``--model`` is a model directory saved by ``whet train`` (``<run>/model``); it is also a plain
Hugging Face model directory (``config.json`` with ``id2label``, safetensors weights, tokenizer),
so the pipeline loads the very same weights. The inputs are the first ``--max-sentences`` dev
sentences (default: all 3,250 of CoNLL-2003 dev), each as raw text: its words joined by single
spaces. Both sides get exactly these strings and do their own pre-tokenisation:

- (i) ``pipeline("token-classification", model=MODEL, aggregation_strategy="simple")`` called on
  the list of strings with each of ``--pipeline-batch-sizes`` (default 1, 8, 32, 64); the fastest
  is kept. The tokenizer splits the raw text; "simple" aggregation takes every subword's own
  prediction and merges neighbours of the same type into an entity.
- (ii) ``whet.load(MODEL).predict(texts, batch_size=64)``: whet splits the text into words
  (``whet.data.words.split_words``: "U.S." is "U.S" + ".", "1996-08-22" one word), tags each
  word by its first subword and decodes entities from the word tags.
- (iii) ``--int8 DIR``: an int8 model (``whet export MODEL --quantize int8``):
  ``whet.load(DIR).predict`` on the same texts, compared with (ii).
- (iv) ``--onnx DIR``: an ONNX export of the same model (``whet export MODEL --onnx``), run by
  onnxruntime through the same ``whet.load(DIR).predict``, compared with (ii) and the pipeline.
- (iv-b) ``--onnx-int8 DIR``: an int8 ONNX export (``whet export MODEL --onnx --quantize int8``:
  onnxruntime's dynamic quantization) through the same ``whet.load(DIR).predict``, beside (iv).
- (iii-b) ``--int8-x86``: the int8 model again on torch's default x86 quantized engine, where
  whet picks oneDNN's (a CPU with AMX), side by side with (iii).
- (v) ``--fp32``: (ii) again with ``precision="fp32"``: whet's default precision is bf16 where the
  CPU runs it fast (``auto``), so an int8 model is compared with both floats.

Each side first runs once on 8 sentences (thread pool start, kernel selection) before the timed
call; loading is timed separately and not counted in sentences/s.

Figures (a table, the entity comparison, then one JSON line starting with ``RESULT ``):

- sentences/s of each, and the ratio whet / pipeline; the size of each model's weight files
  (safetensors, or the ONNX graph and its data), in MB.
- whether the entities are identical: per sentence, the set of (start, end, type) character
  spans from the pipeline (``start``, ``end``, ``entity_group``) against whet's (``start``,
  ``end``, ``type``); the number of sentences where they differ and a few examples. Differences
  come from the two pre-tokenisations and decoding rules above (e.g. a trailing period, or a
  subword tagged differently from its word's first subword), not only from numerics.
- dev entity micro F1 of each from the same word-level scoring: each predicted character span
  tags the CoNLL words it overlaps (B- on the first, I- on the rest), scored with
  ``whet.metrics.ner.ner_report`` against the file's tags (seqeval's default matching). For whet
  also ``whet.load(MODEL).evaluate(dev)["entity"]["micro"]["f1"]``, which predicts on the CoNLL
  words themselves rather than on raw text.
"""

from __future__ import annotations

import os

# A local model directory only; nothing should reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import json
import logging
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Reused from the training benchmark next to this file.
from train_ner import print_table, write_subset

WARMUP_SENTENCES = 8
EXAMPLES_SHOWN = 3

Span = tuple[int, int, str]  # (start, end, type), character offsets, end exclusive


def joined_text(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The words joined by single spaces, and each word's character span in that text."""
    offsets, position = [], 0
    for word in words:
        offsets.append((position, position + len(word)))
        position += len(word) + 1
    return " ".join(words), offsets


def spans_to_word_tags(spans: set[Span], offsets: list[tuple[int, int]]) -> list[str]:
    """IOB2 tags of the words: a span tags the words it overlaps, B- on the first and I- on the rest.

    A word already tagged by an earlier span keeps its tag, so overlapping spans cannot make
    ill-formed sequences.
    """
    tags = ["O"] * len(offsets)
    for start, end, kind in sorted(spans):
        covered = [i for i, (ws, we) in enumerate(offsets) if ws < end and we > start and tags[i] == "O"]
        for n, i in enumerate(covered):
            tags[i] = ("B-" if n == 0 else "I-") + kind
    return tags


def word_level_f1(gold: list[list[str]], spans: list[set[Span]], offsets: list[list[tuple[int, int]]]) -> float:
    from whet.metrics.ner import ner_report

    predicted = [spans_to_word_tags(s, o) for s, o in zip(spans, offsets)]
    return ner_report(gold, predicted)["micro"]["f1"]


def timed(function: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def pipeline_spans(output: list[list[dict]]) -> list[set[Span]]:
    return [{(int(e["start"]), int(e["end"]), e["entity_group"]) for e in entities} for entities in output]


def whet_spans(output: list[dict]) -> list[set[Span]]:
    return [{(int(e["start"]), int(e["end"]), e["type"]) for e in record["entities"]} for record in output]


def compare_spans(texts: list[str], left: list[set[Span]], right: list[set[Span]], left_name: str,
                  right_name: str) -> dict:
    """Sentences whose span sets differ, the entity counts on each side only, and a few examples."""
    differing = [i for i, (a, b) in enumerate(zip(left, right)) if a != b]
    examples = []
    for i in differing[:EXAMPLES_SHOWN]:
        def shown(spans: set[Span]) -> list[str]:
            return [f"{kind} {texts[i][start:end]!r} [{start}:{end}]" for start, end, kind in sorted(spans)]

        examples.append({"sentence": i, "text": texts[i], f"only_{left_name}": shown(left[i] - right[i]),
                         f"only_{right_name}": shown(right[i] - left[i])})
    return {
        "sentences": len(texts), "sentences_differing": len(differing),
        f"entities_{left_name}": sum(len(s) for s in left), f"entities_{right_name}": sum(len(s) for s in right),
        f"entities_only_{left_name}": sum(len(a - b) for a, b in zip(left, right)),
        f"entities_only_{right_name}": sum(len(b - a) for a, b in zip(left, right)),
        "examples": examples,
    }


def weights_mb(model_dir: Path) -> float:
    """Size of the weight files in a model directory (safetensors, or the ONNX graph and its data), in MB."""
    return sum(p.stat().st_size for p in model_dir.iterdir()
               if p.name.endswith((".safetensors", ".onnx", ".onnx_data"))) / 1e6


def run_pipeline(model_dir: Path, texts: list[str], batch_sizes: list[int], aggregation: str) -> dict:
    """(i) the transformers pipeline at each batch size; the fastest is kept."""
    import torch
    from transformers import pipeline

    device = 0 if torch.cuda.is_available() else -1  # whet.load also takes the GPU when there is one
    classifier, load_s = timed(lambda: pipeline("token-classification", model=str(model_dir),
                                                aggregation_strategy=aggregation, device=device))
    classifier(texts[:WARMUP_SENTENCES], batch_size=min(8, max(batch_sizes)))
    tried = {}
    best_output, best_size = None, None
    for size in batch_sizes:
        output, seconds = timed(lambda: classifier(texts, batch_size=size))
        tried[size] = {"seconds": seconds, "sentences_per_s": len(texts) / seconds}
        print(f"[compare_predict] pipeline batch_size={size}: {seconds:.1f} s, {len(texts) / seconds:.1f} sentences/s",
              file=sys.stderr, flush=True)
        if best_size is None or seconds < tried[best_size]["seconds"]:
            best_output, best_size = output, size
    return {"load_s": load_s, "weights_mb": weights_mb(model_dir), "batch_sizes": tried,
            "best_batch_size": best_size,
            "seconds": tried[best_size]["seconds"], "sentences_per_s": tried[best_size]["sentences_per_s"],
            "spans": pipeline_spans(best_output)}


def run_whet(model_dir: Path, texts: list[str], batch_size: int, dev_path: Path, precision: str = "auto") -> dict:
    """(ii) / (iii) ``whet.load(model_dir).predict`` on the raw texts, and ``evaluate`` on the CoNLL words."""
    import whet

    predictor, load_s = timed(lambda: whet.load(str(model_dir), precision=precision))
    predictor.predict(texts[:WARMUP_SENTENCES], batch_size=batch_size)
    output, seconds = timed(lambda: predictor.predict(texts, batch_size=batch_size))
    evaluated = predictor.evaluate(str(dev_path), batch_size=batch_size)["entity"]["micro"]["f1"]
    return {"load_s": load_s, "weights_mb": weights_mb(model_dir), "batch_size": batch_size, "seconds": seconds,
            "sentences_per_s": len(texts) / seconds, "spans": whet_spans(output), "f1_whet_evaluate": evaluated}


def run_int8_on_x86(model_dir: Path, texts: list[str], batch_size: int, dev_path: Path) -> dict:
    """(iii-b): the int8 model with its weights packed for, and run on, torch's x86 engine."""
    import torch

    import whet.models.int8 as int8

    chosen = int8.choose_engine

    def x86() -> str:
        torch.backends.quantized.engine = "x86"
        return "x86"

    int8.choose_engine = x86
    try:
        return run_whet(model_dir, texts, batch_size, dev_path)
    finally:
        int8.choose_engine = chosen


def print_summary(rows: list[tuple[str, dict]], comparisons: dict[str, dict], ratio: float) -> None:
    headers = ["run", "weights MB", "batch", "load s", "predict s", "sentences/s", "entities", "F1 (spans->words)",
               "F1 (whet evaluate)"]
    table = []
    for name, run in rows:
        table.append([name, f"{run['weights_mb']:.1f}", str(run.get("best_batch_size", run.get("batch_size"))),
                      f"{run['load_s']:.1f}",
                      f"{run['seconds']:.2f}", f"{run['sentences_per_s']:.1f}",
                      str(sum(len(s) for s in run["spans"])), f"{run['f1']:.4f}",
                      f"{run['f1_whet_evaluate']:.4f}" if "f1_whet_evaluate" in run else "-"])
    print_table("compare_predict.py summary", headers, table)
    pipeline_run = rows[0][1]
    tried = ", ".join(f"{size}: {t['sentences_per_s']:.1f}" for size, t in pipeline_run["batch_sizes"].items())
    print(f"pipeline sentences/s by batch size: {tried}")
    print(f"whet / pipeline sentences/s: {ratio:.2f}x")
    whet_speed = rows[1][1]["sentences_per_s"]
    fp32_speed = dict(rows).get("whet fp32", {}).get("sentences_per_s")
    for name, run in rows[2:]:
        print(f"{name} / pipeline sentences/s: {run['sentences_per_s'] / pipeline_run['sentences_per_s']:.2f}x; "
              f"{name} / whet: {run['sentences_per_s'] / whet_speed:.2f}x"
              + (f"; {name} / whet fp32: {run['sentences_per_s'] / fp32_speed:.2f}x"
                 if fp32_speed and name != "whet fp32" else ""))
    for name, comparison in comparisons.items():
        print(f"{name}: entities differ in {comparison['sentences_differing']} of {comparison['sentences']} sentences; "
              + ", ".join(f"{k.removeprefix('entities_')}: {v}" for k, v in comparison.items()
                          if k.startswith("entities_")))
        for example in comparison["examples"]:
            print(f"  sentence {example['sentence']}: {example['text'][:120]!r}")
            for key, spans in example.items():
                if key.startswith("only_"):
                    print(f"    {key}: {spans}")


def main() -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="Folder with dev.txt (CoNLL-2003).")
    parser.add_argument("--model", required=True, type=Path, help="A model directory saved by whet train.")
    parser.add_argument("--max-sentences", type=int, default=None,
                        help="Use the first N dev sentences (default: all; use at least 3,000 for the figures).")
    parser.add_argument("--pipeline-batch-sizes", default="1,8,32,64",
                        help="Pipeline batch sizes to try, comma-separated; the fastest is kept (default 1,8,32,64).")
    parser.add_argument("--aggregation", default="simple", help="Pipeline aggregation_strategy (default simple).")
    parser.add_argument("--whet-batch-size", type=int, default=64, help="whet predict batch_size (default 64).")
    parser.add_argument("--int8", type=Path, default=None, help="Also predict with this (int8) whet model directory.")
    parser.add_argument("--int8-x86", action="store_true",
                        help="Also run the --int8 model on torch's x86 engine (whet uses oneDNN's where the CPU has AMX).")
    parser.add_argument("--onnx", type=Path, default=None, help="Also predict with this ONNX export (whet export --onnx).")
    parser.add_argument("--onnx-int8", type=Path, default=None,
                        help="Also predict with this int8 ONNX export (whet export --onnx --quantize int8).")
    parser.add_argument("--fp32", action="store_true",
                        help="Also predict with --model in float32 (whet's default is bf16 where the CPU is fast at it).")
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)

    import torch
    import transformers

    from whet.data.conll import read_conll

    dev_path = args.data.resolve() / "dev.txt"
    if not dev_path.is_file():
        parser.error(f"{dev_path} not found; --data must be the folder holding dev.txt")
    for name, path in (("--model", args.model), ("--int8", args.int8), ("--onnx", args.onnx),
                       ("--onnx-int8", args.onnx_int8)):
        if path is not None and not (path / "config.json").is_file():
            parser.error(f"{name} {path}: no config.json there; give the 'model' directory of a whet run")
    try:
        batch_sizes = [int(b) for b in args.pipeline_batch_sizes.split(",") if b.strip()]
    except ValueError:
        parser.error(f"--pipeline-batch-sizes {args.pipeline_batch_sizes!r}: expected integers, e.g. 1,8,32,64")

    with tempfile.TemporaryDirectory(prefix="whet-compare-predict-") as tmp:
        if args.max_sentences is not None:
            write_subset(dev_path, Path(tmp) / "dev_subset.txt", args.max_sentences)
            dev_path = Path(tmp) / "dev_subset.txt"
        sentences = read_conll(dev_path)
        joined = [joined_text(s.tokens) for s in sentences]
        texts = [text for text, _ in joined]
        offsets = [o for _, o in joined]
        gold = [s.tags for s in sentences]
        print(f"[compare_predict] {len(texts)} dev sentences from {dev_path.name}", file=sys.stderr, flush=True)

        pipeline_run = run_pipeline(args.model, texts, batch_sizes, args.aggregation)
        whet_run = run_whet(args.model, texts, args.whet_batch_size, dev_path)
        fp32_run = run_whet(args.model, texts, args.whet_batch_size, dev_path, "fp32") if args.fp32 else None
        int8_run = run_whet(args.int8, texts, args.whet_batch_size, dev_path) if args.int8 else None
        int8_engine = torch.backends.quantized.engine if args.int8 else None
        int8_x86_run = (run_int8_on_x86(args.int8, texts, args.whet_batch_size, dev_path)
                        if args.int8 and args.int8_x86 else None)
        onnx_run = run_whet(args.onnx, texts, args.whet_batch_size, dev_path) if args.onnx else None
        onnx_int8_run = run_whet(args.onnx_int8, texts, args.whet_batch_size, dev_path) if args.onnx_int8 else None

    rows = [(f"pipeline ({args.aggregation})", pipeline_run), ("whet", whet_run)]
    if fp32_run:
        rows.append(("whet fp32", fp32_run))
    if int8_run:
        rows.append(("whet int8", int8_run))
    if int8_x86_run:
        rows.append(("whet int8 x86", int8_x86_run))
    if onnx_run:
        rows.append(("whet onnx", onnx_run))
    if onnx_int8_run:
        rows.append(("whet onnx int8", onnx_int8_run))
    for _, run in rows:
        run["f1"] = word_level_f1(gold, run["spans"], offsets)
    comparisons = {"pipeline vs whet": compare_spans(texts, pipeline_run["spans"], whet_run["spans"],
                                                     "pipeline", "whet")}
    if int8_run:
        comparisons["whet vs whet int8"] = compare_spans(texts, whet_run["spans"], int8_run["spans"], "whet", "int8")
    if fp32_run:
        comparisons["whet vs whet fp32"] = compare_spans(texts, whet_run["spans"], fp32_run["spans"], "whet", "fp32")
    if onnx_run:
        comparisons["whet vs whet onnx"] = compare_spans(texts, whet_run["spans"], onnx_run["spans"], "whet", "onnx")
    if onnx_int8_run:
        comparisons["whet vs whet onnx int8"] = compare_spans(texts, whet_run["spans"], onnx_int8_run["spans"],
                                                              "whet", "onnx int8")
    ratio = whet_run["sentences_per_s"] / pipeline_run["sentences_per_s"]
    print_summary(rows, comparisons, ratio)
    if int8_run:
        print(f"int8 engine: {int8_engine}")
    if int8_x86_run:
        print(f"whet int8 ({int8_engine}) / whet int8 (x86) sentences/s: "
              f"{int8_run['sentences_per_s'] / int8_x86_run['sentences_per_s']:.2f}x")

    figures = {
        "command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
        "sentences": len(texts), "model": str(args.model), "int8": str(args.int8) if args.int8 else None,
        "onnx": str(args.onnx) if args.onnx else None,
        "onnx_int8": str(args.onnx_int8) if args.onnx_int8 else None, "int8_engine": int8_engine,
        "aggregation": args.aggregation,
        "runs": {name: {k: v for k, v in run.items() if k != "spans"} for name, run in rows},
        "whet_over_pipeline_sentences_per_s": ratio, "comparisons": comparisons,
        "wall_s": time.perf_counter() - started,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "nproc": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__, "python": platform.python_version(),
    }
    print("RESULT " + json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
