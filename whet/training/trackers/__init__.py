"""Experiment trackers: where a training run's losses and metrics go, as ``output.trackers`` lists.

One module per tracker, each with ``open_tracker(run_dir, resume=, output=, params=)`` returning a
``base.Tracker``. ``tracking`` opens them around a run and closes them with its outcome.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from whet.config import OutputConfig
from whet.errors import Interrupted
from whet.registry import Registry
from whet.training.trackers.base import Tracker

TRACKERS = Registry("tracker")
TRACKERS.register("tensorboard", "whet.training.trackers.tensorboard:open_tracker")
TRACKERS.register("mlflow", "whet.training.trackers.mlflow:open_tracker")


@contextmanager
def tracking(names: Sequence[str], run_dir: Path, *, resume: bool, output: OutputConfig | None = None,
             params: dict[str, Any] | None = None) -> Iterator[list[Tracker]]:
    """The trackers ``names`` opened for the run in ``run_dir``, closed on leaving as ``FINISHED``,
    ``KILLED`` (interrupted: ``--resume`` continues it) or ``FAILED``.

    ``output`` holds the trackers' settings (``output.mlflow_*``), ``params`` the nested run config
    that MLflow records. Processes other than the main one pass no names: one process reports.
    """
    output = output if output is not None else OutputConfig()
    trackers: list[Tracker] = []
    status = "FAILED"
    try:
        for name in names:
            trackers.append(TRACKERS.get(name)(run_dir, resume=resume, output=output, params=params or {}))
        yield trackers
        status = "FINISHED"
    except (Interrupted, KeyboardInterrupt):
        status = "KILLED"
        raise
    finally:
        for tracker in trackers:
            tracker.close(status)
