"""``whet train``: from a validated config to a trained model, reports and checkpoints.

This module composes the training library (``whet.training``). Set-up runs in dependency
order: the tokenizer and the method decide the window length, the training labels decide the
head, the number of batches decides the optimizer steps (which AdaLoRA's schedule needs when
the method is applied). Then ``fit`` trains, and ``finish_run`` reports and saves, both followed by
the trackers ``output.trackers`` lists.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any, Callable

import torch

from whet.config import RunConfig, save_config
from whet.errors import WhetError
from whet.training.batches import training_batches
from whet.training.class_weights import class_weight_vector, weighted_cross_entropy, weighted_loss_of
from whet.training.evaluation import eval_settings, evaluate_features
from whet.training.finish import finish_run
from whet.training.fit import fit
from whet.training.rdrop import rdrop_loss
from whet.training.trackers import tracking
from whet.training.setup import (apply_method, build_model, load_tokenizer_and_window, method_settings,
                                 with_task_defaults)

log = logging.getLogger("whet")


def train(config: RunConfig, *, resume: bool = False, merge: bool | None = None,
          on_step: Callable[[Any], None] | None = None) -> dict:
    """Fine-tune a model as ``config`` says; return the final dev (and test) metrics.

    Args:
        config: a validated run configuration (see ``whet.config.load_config``).
        resume: continue from the run directory's last checkpoint.
        merge: also save the adapter merged into the base weights (default: ``config.output.merge``).
        on_step: called with every ``StepEvent``; may set ``whet.training.interrupt.STOP`` to interrupt.
    """
    from whet.methods import METHODS

    method = METHODS.get(config.method.name)
    if config.tune.params:
        log.warning("the config's tune section is a search for whet tune; whet train trains the values the "
                    "config sets (whet tune CONFIG --trials N runs the search)")
    if method.recipe:  # e.g. SetFit: pairs, then a fitted head, instead of the loop below
        return method.recipe(config, resume=resume)

    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from whet.data.prepare import load_run_data
    from whet.io.atomic import existing_directory
    from whet.methods import method_problem
    from whet.methods.trainable import head_module_names
    from whet.tasks import TASKS

    run_dir = Path(config.output.dir)
    if not resume and existing_directory(run_dir / "checkpoints" / "last") is not None:
        raise WhetError(f"{run_dir} already holds a run; resume it with --resume, or choose another "
                        f"output.dir (--set output.dir=...)")
    # bf16 autocast is applied by the loop itself rather than by accelerate's mixed_precision,
    # whose process-wide state cannot change between two runs in one Python process.
    accelerator = Accelerator(cpu=not torch.cuda.is_available())  # cpu=True enables gloo multi-CPU runs
    main = accelerator.is_main_process
    set_seed(config.training.seed)
    task = TASKS.get(config.task)
    metric = config.training.metric or task.default_metric
    merge = config.output.merge if merge is None else merge
    if merge and not method.merges:
        raise WhetError(method_problem(config.method.name, config.task, merge=True))

    # Data: the tokenizer and the method decide the window size, the training labels decide the head.
    tokenizer, max_length = load_tokenizer_and_window(config.model, task, config.data, config.method)
    detect = config.out_of_scope
    # Out-of-scope texts that are not a class stay out of train's labels (they may still set the threshold).
    leave_out = detect.label if detect.scorer != "none" and not detect.include_in_training else None
    data = load_run_data(task, config.data, config.training.seed, leave_out=leave_out)
    if task.training_examples:
        data.train = task.training_examples(data.train, config.data)
    if config.data.augment is not None:  # the training split only, after the task reshaped it
        from whet.augment.apply import augment_examples

        augment = config.data.augment
        data.train = augment_examples(config.task, data.train, augment, model=config.model,
                                      scheme=config.data.label_scheme,
                                      seed=config.training.seed if augment.seed is None else augment.seed)
    if method.input_tokens:  # e.g. PET's pattern around the text, known once the labels are
        max_length -= method.input_tokens(method_settings(config.method), tokenizer, data.labels)
    encode = functools.partial(task.encode, tokenizer=tokenizer, labels=data.labels, max_length=max_length,
                               stride=config.data.stride, data=config.data)
    train_features, dev_features = encode(data.train), encode(data.dev)
    log.info("%s: %d train / %d dev examples (%d / %d windows of at most %d tokens), %d labels",
             config.task, len(data.train), len(data.dev), len(train_features), len(dev_features), max_length,
             len(data.labels))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    collate = functools.partial(task.collate, pad_token_id=pad_id)
    # The task's recipe fills what the config leaves unset, logged once the data has loaded.
    training = with_task_defaults(config.training, task)
    # A task may make training batches its own way (a masked LM draws new masks for each one).
    train_collate = task.training_collate(tokenizer, config.data, pad_id) if task.training_collate else collate
    batches = training_batches(train_features, train_collate, training, rank=accelerator.process_index,
                               world_size=accelerator.num_processes)

    # Model: the body with a new head for the labels (or the method's own model), then the method
    # decides what trains; AdaLoRA's rank schedule needs the number of optimizer steps.
    model = build_model(config.model, task, data.labels, config.data, method_config=config.method, tokenizer=tokenizer,
                        model_settings=config.model_settings)
    heads = head_module_names(model)
    model = apply_method(model, config.method, config.task, task.peft_task_type, batches.steps)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")

    # The precision, decided once the run has its data and model (a mistake in either is reported
    # alone): the loop, its evaluations and the final reports all run in it.
    precision = run_precision(config.training.precision, accelerator)
    training = training.model_copy(update={"precision": precision})
    scoring = eval_settings(config.eval, training, config.data)

    # The dev report of the best evaluation is the final dev report when the best weights are the
    # model as it was evaluated (no method's finishing step changes them): it is not computed again.
    reports: dict[str, tuple[dict, dict[str, float]]] = {}

    def evaluate(current: Any) -> dict[str, float]:
        reports["latest"] = evaluate_features(current, task, data.dev, dev_features, data.labels, scoring, collate,
                                              accelerator.device, accelerator, tokenizer=tokenizer)
        return dict(reports["latest"][1])

    def after_event(event: Any) -> None:
        if event.metrics is not None and event.is_best:
            reports["best"] = reports.pop("latest")
        if on_step is not None:
            on_step(event)

    # Class weights and R-Drop replace the model's own loss (R-Drop's: two passes; a causal LM's
    # labels are its next tokens).
    task_loss = None
    if training.class_weights is not None:
        weights = class_weight_vector(training.class_weights, data.labels, train_features)
        log.info("class weights: %s", ", ".join(f"{label} {w:.2f}" for label, w in zip(data.labels, weights.tolist())))
        task_loss = weighted_cross_entropy(weights)
    if training.rdrop.alpha:
        batch_loss = rdrop_loss(training.rdrop.alpha, next_token_labels=task.generates, task_loss=task_loss)
    else:
        batch_loss = weighted_loss_of(task_loss) if task_loss is not None else None
    # The trackers follow the run from its first step to its saved model; the main process reports.
    with tracking(config.output.trackers if main else [], run_dir, resume=resume, output=config.output,
                  params=config.model_dump()) as trackers:
        started = time.perf_counter()
        model, state = fit(model, batches, heads=heads, evaluate=evaluate, training=training, metric=metric,
                           lower_is_better=task.lower_is_better, batch_loss=batch_loss, run_dir=run_dir,
                           accelerator=accelerator, resume=resume, on_step=after_event, method=method, trackers=trackers)

        # The best weights seen on dev are the model; the final reports are computed with them.
        results = {"best_step": state.best_step, metric: state.best_score}
        if main:
            # A resumed run's earlier sessions went unclocked, so its training time is unknown.
            results = finish_run(run_dir, model, tokenizer, config, task, data, collate, accelerator.device,
                                 max_length, state, merge=merge, precision=precision,
                                 train_seconds=None if resume else time.perf_counter() - started, trackers=trackers,
                                 dev_report=None if method.finish else reports.get("best"))
            if detect.scorer != "none":
                results["out_of_scope"] = fit_out_of_scope(run_dir / "model", data, detect, precision=precision,
                                                           batch_size=config.eval.batch_size)
    accelerator.wait_for_everyone()
    return results


def fit_out_of_scope(model_dir: Path, data: Any, settings: Any, *, precision: str, batch_size: int) -> dict:
    """Fit the out-of-scope detector of a saved model (``settings``: the run's ``out_of_scope``) and
    save it with the model; return its figures on the texts the threshold was chosen on.

    The threshold is chosen on dev, with the out-of-scope training texts left out of the classes
    when dev has no out-of-scope texts of its own.
    """
    from whet.models.out_of_scope import save_detector
    from whet.predict import Predictor

    predictor = Predictor.from_directory(model_dir, precision=precision)
    dev = list(data.dev)
    if not any(settings.label in ex.labels for ex in dev):
        dev += data.left_out
    detector = predictor.fit_out_of_scope(dev, train=data.train, scorer=settings.scorer, oos_label=settings.label,
                                          none_label=settings.none_label, target_recall=settings.target_recall,
                                          k=settings.k, batch_size=batch_size)
    save_detector(model_dir, detector)
    figures = detector.fitted["dev"]
    log.info("out-of-scope scorer %s: threshold %.4f (%s) on %d dev texts; %s", settings.scorer, detector.threshold,
             detector.fitted["rule"], len(dev), ", ".join(f"{k} {v:.4f}" for k, v in figures.items()
                                                         if isinstance(v, float)))
    return figures


def run_precision(requested: str, accelerator: Any) -> str:
    """``fp32`` or ``bf16`` for this run; ``auto`` is decided by the main process and shared, so that
    every process of a distributed run trains alike even where the decision is a timing."""
    from whet.models.precision import resolve_precision

    precision = resolve_precision(requested, accelerator.device)
    if accelerator.num_processes > 1 and requested == "auto":
        from accelerate.utils import broadcast_object_list

        precision = broadcast_object_list([precision])[0]
    return precision
