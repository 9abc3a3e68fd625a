"""TensorBoard: the step scalars under ``<run>/tensorboard`` (``tensorboard --logdir runs``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from whet.training.loop import StepEvent
from whet.training.trackers.base import step_scalars


class TensorBoardTracker:
    def __init__(self, directory: Path, resume: bool) -> None:
        self.directory, self.resume, self.writer = directory, resume, None

    def log_step(self, event: StepEvent, lr: float) -> None:
        if self.writer is None:
            # Opened at the first step logged. After --resume that is the first step the interrupted
            # run logged after its checkpoint (the schedule repeats), so what it logged from there on
            # is purged rather than drawn twice.
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.directory), purge_step=event.step if self.resume else None)
        for name, value in step_scalars(event, lr).items():
            self.writer.add_scalar(name, value, event.step)

    def log_outcome(self, results: dict[str, Any], files: list[Path]) -> None:
        pass  # the curves are TensorBoard's part; the reports stay beside it in the run directory

    def close(self, status: str) -> None:
        if self.writer is not None:
            self.writer.close()


def open_tracker(run_dir: Path, *, resume: bool, output: Any, params: dict[str, Any]) -> TensorBoardTracker:
    return TensorBoardTracker(run_dir / "tensorboard", resume)
