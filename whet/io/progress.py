"""Prediction progress (examples), and the terminal every progress bar draws on."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def stderr_console() -> Console:
    # stderr, so predictions written to stdout stay machine-readable
    return Console(stderr=True)


def prediction_progress(total: int | None, enabled: bool = True) -> Progress:
    return Progress(TextColumn("[bold]predict[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("examples"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=stderr_console(), disable=not enabled)
