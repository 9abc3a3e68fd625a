"""``whet train``: from a validated config to a trained model, reports and checkpoints.

Set-up runs in dependency order: the tokenizer is needed to encode data, the label set
(from the training data) to build the head, the model to build the optimizer, and the
number of batches to build the schedule. Then the loop runs, and this module decides
what happens between steps: logging, checkpoints, early stopping, Ctrl-C.
"""

from __future__ import annotations

import functools
import logging
import math
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import torch

from whet.config import MethodConfig, RunConfig, TrainingConfig, save_config
from whet.errors import ConfigError, Interrupted, WhetError

log = logging.getLogger("whet")

# Set by Ctrl-C (or by a caller): the loop finishes its current step, saves, and stops.
STOP = threading.Event()


def no_decay(name: str) -> bool:
    """Biases and normalisation weights are not decayed (the BERT recipe)."""
    lowered = name.lower()
    return lowered.endswith("bias") or "layernorm" in lowered or "layer_norm" in lowered or ".norm" in lowered


def build_optimizer(model: Any, *, lr: float, head_lr: float | None, weight_decay: float,
                    heads: list[str]) -> torch.optim.Optimizer:
    groups: dict[tuple[bool, bool], list] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        # peft wraps modules as base_model.model.<head>...; the head is the part after that prefix
        bare = name.removeprefix("base_model.model.")
        is_head = bare.split(".", 1)[0] in heads
        groups.setdefault((is_head, no_decay(name)), []).append(parameter)
    param_groups = [{"params": params, "lr": (head_lr or lr) if is_head else lr,
                     "weight_decay": 0.0 if skip_decay else weight_decay}
                    for (is_head, skip_decay), params in sorted(groups.items())]
    try:
        # The fused kernel is several times faster than foreach on CPU (one pass over the 30k-row
        # word embedding instead of several); fall back where a device or dtype lacks it.
        return torch.optim.AdamW(param_groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(param_groups, lr=lr, foreach=True)


def with_task_defaults(training: TrainingConfig, task: Any) -> TrainingConfig:
    """``training`` with the task's default head learning rate where none is set: at least
    ``task.head_lr_floor`` (tasks without a floor train the head at ``lr``)."""
    floor = getattr(task, "head_lr_floor", None)
    if training.head_lr is not None or floor is None or training.lr >= floor:
        return training
    log.info("the new %s head trains at lr %g (training.head_lr sets another)", task.name, floor)
    return training.model_copy(update={"head_lr": floor})


def window_length(configured: int | None, model_limit: int, virtual_tokens: int) -> int:
    """Tokens per input window: the configured length within the model's limit, less the
    positions a prompt or prefix method puts before the input."""
    length = min(configured or 10**9, model_limit - virtual_tokens)
    if length < 16:
        raise WhetError(f"the model takes {model_limit} positions and the method adds {virtual_tokens} virtual tokens, "
                        f"leaving {model_limit - virtual_tokens} for the input; lower num_virtual_tokens")
    return length


def run_directory(config: RunConfig) -> Path:
    return Path(config.output.dir)


def _install_ctrl_c() -> Callable[[], None]:
    """First Ctrl-C asks for a clean stop; a second one stops at once."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        if STOP.is_set():
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        STOP.set()
        log.warning("stopping after this step and saving a checkpoint (Ctrl-C again to stop at once)")

    signal.signal(signal.SIGINT, handler)
    return lambda: signal.signal(signal.SIGINT, previous)


def train(config: RunConfig, *, resume: bool = False, merge: bool | None = None,
          on_step: Callable[[Any], None] | None = None) -> dict:
    """Fine-tune a model as ``config`` says; return the final dev (and test) metrics.

    Args:
        config: a validated run configuration (see ``whet.config.load_config``).
        resume: continue from the run directory's last checkpoint.
        merge: also save the adapter merged into the base weights (default: ``config.output.merge``).
        on_step: called with every ``StepEvent``; may set ``whet.train.STOP`` to interrupt.
    """
    from whet.methods import METHODS

    method = METHODS.get(config.method.name)
    if method.recipe:  # e.g. SetFit: pairs, then a fitted head, instead of the loop below
        return method.recipe(config, resume=resume)

    import transformers
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from whet.data.prepare import load_run_data
    from whet.io.atomic import existing_directory
    from whet.methods import method_problem
    from whet.methods.common import head_module_names
    from whet.models.pretrained import load_config as load_model_config
    from whet.models.pretrained import load_model, load_tokenizer, model_max_length
    from whet.tasks import DEFAULT_METRIC, TASKS

    run_dir = run_directory(config)
    if not resume and existing_directory(run_dir / "checkpoints" / "last") is not None:
        raise WhetError(f"{run_dir} already holds a run; resume it with --resume, or choose another "
                        f"output.dir (--set output.dir=...)")
    # bf16 autocast is applied by the loop itself rather than by accelerate's mixed_precision,
    # whose process-wide state cannot change between two runs in one Python process.
    accelerator = Accelerator(cpu=not torch.cuda.is_available())  # cpu=True enables gloo multi-CPU runs
    main = accelerator.is_main_process
    set_seed(config.training.seed)
    task = TASKS.get(config.task)
    training = with_task_defaults(config.training, task)
    metric = training.metric or DEFAULT_METRIC[config.task]

    # The method first: prompt and prefix methods take input positions from every window.
    settings = getattr(config.method, method.section) if method.section else None
    merge = config.output.merge if merge is None else merge
    if merge and not method.merges:
        raise WhetError(method_problem(config.method.name, config.task, merge=True))

    # Data: the tokenizer and the method decide the window size, the training labels decide the head.
    tokenizer = load_tokenizer(config.model)
    model_config = load_model_config(config.model)
    if hasattr(task, "prepare"):  # e.g. a pad token for a causal LM that ships none, before encoding
        task.prepare(tokenizer, model_config, config.data)
    max_length = window_length(config.data.max_length, model_max_length(tokenizer, model_config),
                               method.virtual_tokens(settings) if method.virtual_tokens else 0)
    data = load_run_data(task, config.data, training.seed)
    if method.input_tokens:  # e.g. PET's pattern around the text, known once the labels are
        max_length -= method.input_tokens(settings, tokenizer, data.labels)
    encode = functools.partial(task.encode, tokenizer=tokenizer, labels=data.labels, max_length=max_length,
                               stride=config.data.stride, data=config.data)
    train_features, dev_features = encode(data.train), encode(data.dev)
    log.info("%s: %d train / %d dev examples (%d / %d windows of at most %d tokens), %d labels",
             config.task, len(data.train), len(data.dev), len(train_features), len(dev_features), max_length,
             len(data.labels))

    # Model: pretrained body plus a new head sized for the labels (or the method's own model, such
    # as PET's masked LM, which has no new head), then the method decides what trains; AdaLoRA's
    # rank schedule needs the number of optimizer steps.
    if method.build_model:
        model = method.build_model(config.model, tokenizer, data.labels, settings)
    else:
        model = load_model(getattr(transformers, task.auto_class), config.model,
                           **task.model_kwargs(data.labels, config.data))
    heads = head_module_names(model)
    total_steps = planned_steps(train_features, training, accelerator.num_processes)
    model = apply_method(model, config.method, config.task, task.peft_task_type, total_steps)

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    collate = functools.partial(task.collate, pad_token_id=pad_id)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")

    def evaluate(current: Any) -> dict[str, float]:
        _, metrics = evaluate_features(current, task, data.dev, dev_features, data.labels, config, collate,
                                       accelerator.device, accelerator, tokenizer=tokenizer)
        return metrics

    started = time.perf_counter()
    model, state = fit(model, heads=heads, train_features=train_features, collate=collate, evaluate=evaluate,
                       training=training, metric=metric, run_dir=run_dir, accelerator=accelerator, resume=resume,
                       on_step=on_step, method=method)

    # The best weights seen on dev are the model; the final reports are computed with them.
    results = {"best_step": state.best_step, metric: state.best_score}
    if main:
        # A resumed run's earlier sessions went unclocked, so its training time is unknown.
        results = finish_run(run_dir, model, tokenizer, config, task, data, collate, accelerator.device,
                             max_length, state, merge=merge,
                             train_seconds=None if resume else time.perf_counter() - started)
    accelerator.wait_for_everyone()
    return results


def training_sampler(train_features: list[dict], training: TrainingConfig, rank: int, world_size: int) -> Any:
    """The length-grouped, token-budget batches of one process of the run."""
    from whet.data.token_batches import TokenBudgetBatchSampler, feature_length

    return TokenBudgetBatchSampler([feature_length(f) for f in train_features], training.batch_size,
                                   training.max_tokens, shuffle=True, seed=training.seed, rank=rank,
                                   world_size=world_size)


def steps_of(sampler: Any, training: TrainingConfig) -> int:
    """Optimizer steps the run takes: from the number of batches per epoch, or max_steps."""
    steps_per_epoch = math.ceil(len(sampler.epoch_batches) / training.grad_accum)
    return training.max_steps or steps_per_epoch * training.epochs


def planned_steps(train_features: list[dict], training: TrainingConfig, world_size: int) -> int:
    """Optimizer steps the run will take, known before the model is built (AdaLoRA needs them)."""
    return steps_of(training_sampler(train_features, training, 0, world_size), training)


def apply_method(model: Any, method_config: MethodConfig, task_name: str, peft_task_type: str | None,
                 total_steps: int) -> Any:
    """The model with the configured method applied (what trains, and any adapter added)."""
    from whet.methods import METHODS
    from whet.methods.common import count_parameters

    method = METHODS.get(method_config.name)
    settings = getattr(method_config, method.section) if method.section else None
    model = method.apply(model, settings, peft_task_type, total_steps=total_steps)
    trainable, total = count_parameters(model)
    if trainable == 0:
        raise ConfigError(f"method {method_config.name} trains no parameter of this {task_name} model "
                          f"(it has no new task head, or no biases); choose another method.name")
    log.info("method %s: training %s of %s parameters (%.2f%%)", method_config.name, f"{trainable:,}",
             f"{total:,}", 100 * trainable / total)
    return model


def enable_gradient_checkpointing(model: Any) -> None:
    """Recompute each layer's activations in the backward pass instead of keeping them, in the
    pretrained model inside ``model`` (itself, or the one a peft model, PET's classifier or a
    sentence encoder wraps).

    Checkpointing is non-reentrant: with peft, the layers after frozen embeddings get their
    gradients without the embeddings' outputs requiring any.
    """
    pretrained = _pretrained_inside(model)
    if pretrained is None or not pretrained.supports_gradient_checkpointing:
        kind = pretrained.config.model_type if pretrained is not None else type(model).__name__
        raise ConfigError(f"training.gradient_checkpointing: {kind} models do not support gradient checkpointing; "
                          f"set training.gradient_checkpointing to false")
    # transformers 5.25 renamed it activation_checkpointing_enable and deprecated the old name.
    enable = getattr(pretrained, "activation_checkpointing_enable", None)
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        pretrained.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    # transformers also hooks the input embeddings so that their outputs require gradients, which
    # only reentrant checkpointing needs; with the hook a frozen body would build a graph for nothing.
    pretrained.disable_input_require_grads()
    log.info("gradient checkpointing on: each layer's activations are recomputed in the backward pass")


def disable_gradient_checkpointing(model: Any) -> None:
    """Undo ``enable_gradient_checkpointing``, so a trained model is handed on as it was loaded."""
    pretrained = _pretrained_inside(model)
    if pretrained is None or not pretrained.supports_gradient_checkpointing:
        return
    disable = getattr(pretrained, "activation_checkpointing_disable", None)
    (disable or pretrained.gradient_checkpointing_disable)()


def _pretrained_inside(model: Any) -> Any:
    from transformers import PreTrainedModel

    # modules() walks from the outside in, so this is the outermost pretrained model.
    return next((m for m in model.modules() if isinstance(m, PreTrainedModel)), None)


def fit(model: Any, *, heads: list[str], train_features: list[dict], collate: Callable,
        evaluate: Callable[[Any], dict[str, float]], training: TrainingConfig, metric: str, run_dir: Path,
        accelerator: Any, resume: bool = False, on_step: Callable[[Any], None] | None = None,
        batch_loss: Callable[[Any, dict], torch.Tensor] | None = None, method: Any = None) -> tuple[Any, Any]:
    """Train ``model`` on ``train_features``: the loop with checkpoints, logging, early stopping and Ctrl-C.

    ``evaluate(model)`` gives the dev metrics; the weights that score best on ``metric`` are
    kept under ``run_dir/checkpoints/best`` and loaded back at the end. ``batch_loss(model,
    batch)`` replaces the model's own loss when given. ``method`` (a ``whet.methods`` record)
    adds its per-step work and its finishing step. Returns the unwrapped model holding the best
    weights, and the final ``LoopState``.
    """
    import transformers
    from torch.utils.data import DataLoader

    from whet.training.checkpoints import load_checkpoint, save_checkpoint, save_process_rng, trainable_state
    from whet.training.loop import LoopState, training_steps
    from whet.io.progress import TrainingProgress

    STOP.clear()
    main = accelerator.is_main_process
    checkpoint_dir = run_dir / "checkpoints" / "last"
    # The main process writes the checkpoint; each other process keeps its own random state beside it.
    process_rng_dir = None if main else run_dir / "checkpoints" / f"last-rng-{accelerator.process_index}"
    best_dir = run_dir / "checkpoints" / "best"

    # Optimisation: the schedule length comes from the number of batches per epoch.
    sampler = training_sampler(train_features, training, accelerator.process_index, accelerator.num_processes)
    # Its own generator: a DataLoader iterator otherwise draws from the global RNG when created,
    # which would shift the dropout masks of a run resumed mid-epoch.
    loader = DataLoader(train_features, batch_sampler=sampler, collate_fn=collate, generator=torch.Generator())
    total_steps = steps_of(sampler, training)

    if training.gradient_checkpointing:  # on the bare model, before accelerate wraps it
        enable_gradient_checkpointing(model)
    optimizer = build_optimizer(model, lr=training.lr, head_lr=training.head_lr,
                                weight_decay=training.weight_decay, heads=heads)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, int(training.warmup_ratio * total_steps),
                                                             total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    step_callback = method.step_callback if method is not None else None
    after_step = step_callback(accelerator.unwrap_model(model)) if step_callback else None

    state = LoopState()
    if resume:
        state = LoopState(**load_checkpoint(checkpoint_dir, model=accelerator.unwrap_model(model),
                                            optimizer=optimizer, scheduler=scheduler, process_rng=process_rng_dir))
        log.info("resuming at step %d (epoch %d, batch %d)", state.step, state.epoch + 1, state.batch)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)

    def checkpoint() -> None:
        if main:
            save_checkpoint(checkpoint_dir, model=accelerator.unwrap_model(model), optimizer=optimizer,
                            scheduler=scheduler, loop_state=asdict(state))
        else:
            save_process_rng(process_rng_dir, step=state.step)

    writer = _tensorboard(run_dir / "tensorboard", purge_step=state.step if resume else None) if main else None
    progress = TrainingProgress(total_steps, start=state.step, enabled=main)
    restore_ctrl_c = _install_ctrl_c()
    try:
        with progress:
            for event in training_steps(model=model, optimizer=optimizer, scheduler=scheduler,
                                        accelerator=accelerator, loader=loader, sampler=sampler, state=state,
                                        epochs=training.epochs, max_steps=training.max_steps,
                                        grad_accum=training.grad_accum, max_grad_norm=training.max_grad_norm,
                                        evaluate=lambda: evaluate(accelerator.unwrap_model(model)),
                                        eval_every=training.eval_every, metric=metric,
                                        precision=training.precision, after_step=after_step,
                                        batch_loss=batch_loss):
                lr = scheduler.get_last_lr()[0]
                progress.update(event)
                if event.step % training.log_every == 0 or event.metrics is not None:
                    state.history.append({"step": event.step, "epoch": round(event.epoch, 4),
                                          "train_loss": event.loss, "lr": lr})
                    if writer:
                        writer.add_scalar("train/loss", event.loss, event.step)
                        writer.add_scalar("train/lr", lr, event.step)
                        writer.add_scalar("train/sentences_per_second", event.sentences_per_second, event.step)
                if event.metrics is not None:
                    state.history.append({"step": event.step, "epoch": round(event.epoch, 4),
                                          **{f"dev_{k}": v for k, v in event.metrics.items()}})
                    if writer:
                        for key, value in event.metrics.items():
                            writer.add_scalar(f"dev/{key}", value, event.step)
                    shown = " ".join(f"{k}={v:.4f}" for k, v in event.metrics.items())
                    progress.log(f"step {event.step} epoch {event.epoch:.2f} dev {shown}"
                                 + (" (best)" if event.is_best else ""))
                    if event.is_best and main:
                        _save_trainable(best_dir, accelerator.unwrap_model(model), trainable_state)
                    checkpoint()
                if on_step:
                    on_step(event)
                if STOP.is_set():
                    checkpoint()
                    raise Interrupted(f"interrupted at step {event.step}; continue with --resume")
                if (training.patience and event.metrics is not None
                        and state.evals_without_improvement >= training.patience):
                    progress.log(f"early stopping: no {metric} improvement in {training.patience} evaluations")
                    break
    finally:
        restore_ctrl_c()
        if writer:
            writer.close()
    checkpoint()

    unwrapped = accelerator.unwrap_model(model)
    if training.gradient_checkpointing:
        disable_gradient_checkpointing(unwrapped)
    _load_trainable(best_dir, unwrapped)
    if method is not None and method.finish:
        method.finish(unwrapped)
    return unwrapped, state


def _tensorboard(path: Path, purge_step: int | None) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(path), purge_step=purge_step)


def _save_trainable(path: Path, model: Any, trainable_state: Callable) -> None:
    from safetensors.torch import save_file

    from whet.io.atomic import atomic_directory

    with atomic_directory(path) as tmp:
        save_file(trainable_state(model), str(tmp / "trainable.safetensors"))


def _load_trainable(path: Path, model: Any) -> None:
    from safetensors.torch import load_file

    from whet.io.atomic import existing_directory

    found = existing_directory(path)
    if found is not None:
        model.load_state_dict(load_file(str(found / "trainable.safetensors")), strict=False)


def evaluate_features(model: Any, task: Any, examples: list, features: list[dict], labels: list[str],
                      config: RunConfig, collate: Callable, device: torch.device,
                      accelerator: Any = None, tokenizer: Any = None) -> tuple[dict, dict[str, float]]:
    """Dev metrics; in a distributed run each process scores every N-th feature and the
    logits are gathered, so no feature is scored twice and every process gets the same result.
    With ``eval.generate`` (and a ``tokenizer``), a generating task also scores generated text."""
    from whet.models.inference import run_model

    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    mine = list(range(rank, len(features), world))
    logits_part, loss_sum, loss_count = run_model(
        model, [features[i] for i in mine], collate, max_sentences=config.eval.batch_size,
        max_tokens=config.training.max_tokens * 2, device=device, precision=config.training.precision,
        reduce=getattr(task, "reduce_outputs", None))
    pieces = [(mine, logits_part, loss_sum, loss_count)]
    if world > 1:
        from accelerate.utils import gather_object

        pieces = gather_object(pieces)
    logits: list[Any] = [None] * len(features)
    loss_sum, loss_count = 0.0, 0
    for indices, part, piece_loss, piece_count in pieces:
        for index, value in zip(indices, part):
            logits[index] = value
        loss_sum += piece_loss
        loss_count += piece_count
    report, metrics = task.evaluate(examples, features, logits, labels, config.data, config.eval.mode)
    if loss_count:
        metrics["loss"] = loss_sum / loss_count
    if config.eval.generate and tokenizer is not None and hasattr(task, "generation_metrics"):
        # Each process generates for every example: generation is deterministic (greedy), so all agree.
        extra_report, extra_metrics = task.generation_metrics(model, tokenizer, examples,
                                                              max_new_tokens=config.eval.max_new_tokens,
                                                              batch_size=config.eval.batch_size)
        report.update(extra_report)
        metrics.update(extra_metrics)
    return report, metrics


def finish_run(run_dir: Path, model: Any, tokenizer: Any, config: RunConfig, task: Any, data: Any,
               collate: Callable, device: torch.device, max_length: int, state: Any, *, merge: bool,
               train_seconds: float | None = None) -> dict:
    """Final reports on dev (and test) with the best weights, plots, and the saved model with its card."""
    from whet import __version__
    from whet.methods.common import count_parameters
    from whet.models.model_card import data_files, training_figures, training_record
    from whet.metrics.report import plot_training_curves, render_report, write_report
    from whet.models.saved_model import ModelInfo, save_model

    started = time.perf_counter()
    results: dict[str, Any] = {"best_step": state.best_step}
    splits = []
    if data.dev:  # empty for a few-shot run without data.dev
        splits.append(("dev", data.dev, config.data.dev or f"{config.data.dev_split:.0%} of {config.data.train}"))
    if data.test:
        splits.append(("test", data.test, config.data.test))
    encode = functools.partial(task.encode, tokenizer=tokenizer, labels=data.labels, max_length=max_length,
                               stride=config.data.stride, data=config.data)
    for split, examples, source in splits:
        report, metrics = evaluate_features(model, task, examples, encode(examples), data.labels, config, collate,
                                            device, tokenizer=tokenizer)
        report["dataset"] = str(source)
        write_report(report, run_dir, name=f"{split}_report")
        _console().print(render_report(report))
        results[split] = metrics
    if state.history:
        plot_training_curves(state.history, run_dir / "training_curves.png")
    training = training_record(command="whet train config.yaml", config=config.model_dump(),
                               data=data_files(config.data, data, dev_split=config.data.dev_split),
                               figures=training_figures(state, seconds=train_seconds),
                               parameters=count_parameters(model))
    info = ModelInfo(task=config.task, labels=data.labels, base_model=config.model, method=config.method.name,
                     data=config.data.model_dump(), max_length=max_length, source_scheme=data.source_scheme,
                     metrics=results, whet_version=__version__, training=training)
    save_model(run_dir / "model", model, tokenizer, info, merge=merge)
    log.info("model saved to %s (%.1fs for reports and saving)", run_dir / "model", time.perf_counter() - started)
    return results


def _console() -> Any:
    from rich.console import Console

    return Console()
