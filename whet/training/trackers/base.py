"""The seam between a training run and where its numbers go: the ``Tracker`` protocol, and the
scalars every tracker records at a step, under the same names everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from whet.training.loop import StepEvent


class Tracker(Protocol):
    """Receives a run's steps and outcome; opened by ``open_tracker(run_dir, resume=, output=, params=)``
    in the tracker's module, and used by the main process only."""

    def log_step(self, event: StepEvent, lr: float) -> None:
        """The step's training loss, learning rate and speed, and its dev metrics when it evaluated."""

    def log_outcome(self, results: dict[str, Any], files: list[Path]) -> None:
        """The end of the run: the best model's final metrics (``finish_run``'s results) and the
        files written for it under the run directory (reports, plots, model card)."""

    def close(self, status: str) -> None:
        """``FINISHED``, ``FAILED``, or ``KILLED`` for an interrupted run (``--resume`` continues it)."""


def step_scalars(event: StepEvent, lr: float) -> dict[str, float]:
    scalars = {"train/loss": event.loss, "train/lr": lr, "train/sentences_per_second": event.sentences_per_second}
    scalars.update({f"dev/{name}": value for name, value in (event.metrics or {}).items()})
    return scalars
