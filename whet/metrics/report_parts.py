"""The parts evaluation reports are drawn with: score and confusion tables for the terminal
(rich) and for Markdown, F1 bars and confusion heat maps as PNG, and how numbers are shown.

Tasks draw their own report tables (``Task.report_tables``) with these; ``whet.metrics.report``
assembles a report around them. Plots use matplotlib's object API on an Agg canvas rather than
pyplot: no global backend switch (which would break a caller's notebook), no figure registry to
leak, safe to call from server threads.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

# Past these sizes a confusion matrix stops being readable in a terminal / a Markdown page.
CONSOLE_MATRIX_MAX = 20
MARKDOWN_MATRIX_MAX = 30
# Past this many classes, per-cell counts in the confusion-matrix plot overlap.
PLOT_ANNOTATE_MAX = 30

_METRICS = ("precision", "recall", "f1")
AVERAGES = ("micro", "macro", "weighted")


@dataclass(frozen=True)
class ReportTables:
    """A task's own tables in an evaluation report, beyond flat metrics; each function takes the report."""

    console: Callable[[dict], list[Any]]  # rich renderables, after the summary line
    markdown: Callable[[dict], list[str]]  # Markdown lines, after the header list
    # (file name suffix, PNG bytes) of each plot: "f1_by_type" becomes report_f1_by_type.png
    plots: Callable[[dict], list[tuple[str, bytes]]]


def score_table(title: str, first: str, rows: dict[str, dict], averages: dict[str, dict]) -> Table:
    """Precision, recall, F1 and support of each row (class, entity type), then the averages in bold."""
    table = Table(title=title, title_justify="left")
    table.add_column(first)
    for column in (*_METRICS, "support"):
        table.add_column(column, justify="right")
    last = len(rows) - 1
    for i, (name, row) in enumerate(rows.items()):
        # A rule under the per-class rows sets the averages apart, as in the classic layout.
        table.add_row(Text(str(name)), *_cells(row), end_section=i == last)
    for name, row in averages.items():
        table.add_row(name, *_cells(row), style="bold")
    return table


def confusion_table(labels: list[str], matrix: list[list[int]]) -> Table:
    # The "gold \\ pred" corner says which axis is which; a longer title would wrap.
    table = Table(title="Confusion matrix", title_justify="left")
    table.add_column("gold \\ pred")
    for label in labels:
        # Text, not str: rich would read a label like "[x]" as markup.
        table.add_column(Text(str(label)), justify="right")
    for i, (label, counts) in enumerate(zip(labels, matrix)):
        # Bold the diagonal so the correct predictions stand out from the confusions.
        cells = [Text(str(count), style="bold" if i == j else "") for j, count in enumerate(counts)]
        table.add_row(Text(str(label)), *cells)
    return table


def markdown_score_table(first: str, rows: dict[str, dict], averages: dict[str, dict]) -> list[str]:
    """``score_table`` as Markdown lines."""
    lines = [f"| {first} | precision | recall | f1 | support |", "|---|---:|---:|---:|---:|"]
    for name, row in rows.items():
        lines.append(f"| {markdown_cell(name)} | " + " | ".join(_cells(row)) + " |")
    for name, row in averages.items():
        lines.append(f"| **{name}** | " + " | ".join(_cells(row)) + " |")
    return lines


def markdown_confusion(labels: list[str], matrix: list[list[int]]) -> list[str]:
    """A confusion matrix as Markdown lines: gold labels down, predicted labels across."""
    lines = ["| gold \\ pred | " + " | ".join(markdown_cell(x) for x in labels) + " |", "|---|" + "---:|" * len(labels)]
    lines += [f"| {markdown_cell(label)} | " + " | ".join(str(c) for c in counts) + " |" for label, counts in zip(labels, matrix)]
    return lines


def markdown_cell(text: str) -> str:
    # A pipe inside a label would split the table cell.
    return str(text).replace("|", "\\|")


def f1_bars_png(rows: dict[str, dict], what: str) -> bytes:
    """Horizontal F1 bars, one per row (class, entity type), each labelled with its score and support."""
    names = list(rows)
    scores = [rows[n]["f1"] for n in names]
    # The figure grows with the number of bars, up to a height image viewers still open.
    height = min(60.0, max(2.5, 0.32 * len(names) + 1.3))
    size = _label_size((height - 1.3) / max(len(names), 1))
    figure, canvas = new_figure((7, height))
    axes = figure.subplots()
    positions = range(len(names))
    axes.barh(positions, scores, color="#4c72b0")
    axes.set_yticks(list(positions), [shortened(n) for n in names], fontsize=size)
    axes.set_ylim(len(names) - 0.5, -0.5)  # inverted: the table's first row on top
    axes.set_xlim(0, 1.2)  # room for the value labels past a bar at 1.0
    axes.set_xticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.set_xlabel("F1")
    axes.set_title(f"F1 by {what}")
    for position, (name, score) in enumerate(zip(names, scores)):
        axes.text(score + 0.01, position, f"{score:.3f} (n={rows[name]['support']})", va="center", fontsize=size)
    axes.grid(True, axis="x", alpha=0.3)
    return png_bytes(figure, canvas)


def confusion_png(labels: list[str], matrix: list[list[int]]) -> bytes:
    """A confusion matrix as a heat map, normalised by row."""
    import numpy as np

    counts = np.asarray(matrix, dtype=np.int64)
    row_totals = counts.sum(axis=1, keepdims=True)
    # Rows are normalised so that rare classes are as visible as common ones; a class with no
    # gold examples stays an empty row rather than a division by zero.
    normalised = counts / np.where(row_totals == 0, 1, row_totals)
    n = len(labels)
    side = min(24.0, max(4.5, 0.45 * n + 2.5))
    size = _label_size(0.8 * side / n)
    figure, canvas = new_figure((side + 1.0, side))
    axes = figure.subplots()
    image = axes.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    colorbar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    colorbar.set_label("share of the gold row")
    short = [shortened(label) for label in labels]
    # Slanted labels read best for a few classes; vertical ones stay clear of each other for many.
    few = n <= 10
    axes.set_xticks(range(n), short, rotation=45 if few else 90, ha="right" if few else "center", fontsize=size)
    axes.set_yticks(range(n), short, fontsize=size)
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    annotate = n <= PLOT_ANNOTATE_MAX
    axes.set_title("Confusion matrix (normalised by row" + (", counts in cells)" if annotate else ")"))
    if annotate:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    color = "white" if normalised[i, j] > 0.5 else "black"
                    axes.text(j, i, str(counts[i, j]), ha="center", va="center", color=color, fontsize=size)
    return png_bytes(figure, canvas)


def new_figure(size: tuple[float, float]) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100)
    return figure, FigureCanvasAgg(figure)


def png_bytes(figure: Any, canvas: Any) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    canvas.print_png(buffer)
    return buffer.getvalue()


def is_number(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def number_cell(value: Any) -> str:
    """Counts as integers, scores with 4 decimals, a missing value as an empty cell."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else fmt(value)


def _cells(row: dict) -> list[str]:
    return [*(fmt(row[m]) for m in _METRICS), str(int(row["support"]))]


def fmt(value: float) -> str:
    """A score as the tables show it: 4 decimals."""
    return f"{float(value):.4f}"


def shortened(label: str, limit: int = 28) -> str:
    label = str(label)
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _label_size(cell_inches: float) -> float:
    # Half a cell (or bar) high in points: readable, and neighbouring labels do not touch.
    return min(9.0, max(4.0, 0.5 * 72 * cell_inches))
