"""The training progress bar: step, loss, sentences/s, ETA."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from whet.io.progress import stderr_console


class TrainingProgress:
    """A progress bar over optimizer steps; lines logged through it print above the bar."""

    def __init__(self, total_steps: int, *, start: int = 0, enabled: bool = True) -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]train[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
            TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[speed]:.1f} sent/s"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=stderr_console(), disable=not enabled, transient=False)
        self.task = self.progress.add_task("train", total=total_steps, completed=start, loss=float("nan"), speed=0.0)

    def __enter__(self) -> TrainingProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def update(self, event: Any) -> None:
        self.progress.update(self.task, completed=event.step, loss=event.loss, speed=event.sentences_per_second)

    def log(self, message: str) -> None:
        if self.enabled:
            self.progress.console.print(message, highlight=False)
