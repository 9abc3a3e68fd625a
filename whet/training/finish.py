"""The end of a ``whet train`` run: reports on dev and test with the best weights, the training
curves, the saved model with its card, and the outcome sent to the run's trackers."""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Callable

import torch

from whet.config import RunConfig
from whet.training.evaluation import eval_settings, evaluate_features
from whet.training.trackers.base import Tracker

log = logging.getLogger("whet")


def finish_run(run_dir: Path, model: Any, tokenizer: Any, config: RunConfig, task: Any, data: Any,
               collate: Callable, device: torch.device, max_length: int, state: Any, *, merge: bool,
               train_seconds: float | None = None, precision: str | None = None,
               trackers: Sequence[Tracker] = (), dev_report: tuple[dict, dict] | None = None) -> dict:
    """Final reports on dev (and test) with the best weights, plots, and the saved model with its card.

    ``dev_report``: the (report, metrics) of the evaluation that chose the best weights, when
    ``model`` holds them as evaluated; they stand for dev's instead of evaluating it again.

    ``precision`` is the one the run trained in (``training.precision`` resolved); the reports are
    computed in it and the card records it. Without it they follow ``training.precision``.
    ``trackers`` receive the results and the files written (``outcome_files``).
    """
    from rich.console import Console

    from whet.version import __version__
    from whet.methods.trainable import count_parameters
    from whet.metrics.report import plot_training_curves, render_report, write_report
    from whet.models.model_card import data_files, training_figures, training_record
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
    settings = eval_settings(config.eval, config.training, config.data)
    if precision is not None:
        settings = dataclasses.replace(settings, precision=precision)
    for split, examples, source in splits:
        if split == "dev" and dev_report is not None:
            report, metrics = dev_report
        else:
            report, metrics = evaluate_features(model, task, examples, encode(examples), data.labels, settings,
                                                collate, device, tokenizer=tokenizer)
        report["dataset"] = str(source)
        write_report(report, run_dir, name=f"{split}_report")
        Console().print(render_report(report))
        results[split] = metrics
    if state.history:
        plot_training_curves(state.history, run_dir / "training_curves.png")
    training = training_record(command="whet train config.yaml", config=config.model_dump(),
                               data=data_files(config.data, data, dev_split=config.data.dev_split),
                               figures=training_figures(state, seconds=train_seconds, precision=precision),
                               parameters=count_parameters(model))
    info = ModelInfo(task=config.task, labels=data.labels, base_model=config.model, method=config.method.name,
                     data=config.data.model_dump(), max_length=max_length, source_scheme=data.source_scheme,
                     metrics=results, whet_version=__version__, training=training)
    save_model(run_dir / "model", model, tokenizer, info, merge=merge)
    log.info("model saved to %s (%.1fs for reports and saving)", run_dir / "model", time.perf_counter() - started)
    for tracker in trackers:
        tracker.log_outcome(results, outcome_files(run_dir))
    return results


def outcome_files(run_dir: Path) -> list[Path]:
    """What a finished run wrote for people to read: its config, reports, plots and model card (not
    the weights, which stay in ``model/``)."""
    written = sorted({*run_dir.glob("*_report.*"), *run_dir.glob("*.png")})
    return [path for path in [run_dir / "config.yaml", *written, run_dir / "model" / "README.md",
                              run_dir / "model" / "whet.json"] if path.is_file()]
