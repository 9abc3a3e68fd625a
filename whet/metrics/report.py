"""Evaluation reports: a rich table for the terminal, Markdown, JSON and PNG plots.

A report is a plain dict, built by a task's ``evaluate`` from the metric functions in
``whet.metrics``. A task with tables of its own gives them as its ``report_tables`` hook,
found in the task registry by the report's "task"; this module draws the parts every report
shares and the tables those hooks ask for (``score_table``, ``confusion_png``, ...):

* token classification: ``{"task": "token-classification", "entity": <ner_report without
  "token">, "token": <label_table over tags>}``
* sequence classification: ``{"task": "sequence-classification", "classes":
  <classification_report or multilabel_report>, "multi_label": bool}``

* a task without tables (causal-lm, question answering, multiple choice): ``{"task": ...,
  "metrics": {name: number}}``, optionally with ``"generation"`` (``{name: number}`` about
  generated text), ``"samples"`` (a list of ``{column: text}`` rows, e.g. prompt, reference
  and generated reply), ``"breakdown"`` (``{group: {name: number}}``, the metrics of groups
  of examples, e.g. answerable and unanswerable questions) and ``"notes"`` (sentences on
  how the numbers were made)

plus the optional keys ``"dataset"`` (path of the evaluated file), ``"examples"`` (how many
examples it held), ``"mode"`` (NER entity matching, ``"default"`` or ``"strict"``) and
``"unknown_labels"`` (``{label: count}`` for labels in the evaluated data that the model
never saw in training; they can never be predicted).

Plots use matplotlib's object API on an Agg canvas rather than pyplot: no global backend
switch (which would break a caller's notebook), no figure registry to leak, safe to call
from server threads.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from whet.io.atomic import write_bytes_atomic as _write_bytes_atomic
from whet.io.atomic import write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from whet.tasks.base import ReportTables

# Past these sizes a confusion matrix stops being readable in a terminal / a Markdown page.
CONSOLE_MATRIX_MAX = 20
MARKDOWN_MATRIX_MAX = 30
# Past this many classes, per-cell counts in the confusion-matrix plot overlap.
PLOT_ANNOTATE_MAX = 30

_METRICS = ("precision", "recall", "f1")
AVERAGES = ("micro", "macro", "weighted")


# ---------------------------------------------------------------------------------------
# Terminal


def render_report(report: dict) -> RenderableType:
    """Lay a report out for a rich console.

    Args:
        report: A report dict (see the module docstring).

    Returns:
        A renderable: a header line, the unknown-labels warning if any, then the metric
        tables (and, for single-label classification with at most 20 classes, the
        confusion matrix).

    Example:
        >>> from rich.console import Console
        >>> Console().print(render_report(report))  # doctest: +SKIP
    """
    tables = _tables(report)
    parts: list[RenderableType] = [Text(_summary_line(report), style="bold")]
    warning = _unknown_labels_line(report)
    if warning:
        parts.append(Text(f"Warning: {warning}", style="yellow"))
    return Group(*parts, *(tables.console(report) if tables else _rich_metrics(report)))


def _rich_metrics(report: dict) -> list[RenderableType]:
    table = Table(title="Metrics", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in _flat_metrics(report):
        table.add_row(name, value)
    parts: list[RenderableType] = [table]
    breakdown = report.get("breakdown") or {}
    if breakdown:
        columns = _breakdown_columns(breakdown)
        grouped = Table(title="By group", title_justify="left")
        for column in ["", *columns]:
            grouped.add_column(column, justify="right" if column else "left")
        for name, row in breakdown.items():
            grouped.add_row(Text(str(name)), *(_number(row.get(c)) for c in columns))
        parts.append(grouped)
    parts += [Text(note) for note in report.get("notes") or []]
    samples = report.get("samples") or []
    if samples:
        listed = Table(title="Samples", title_justify="left")
        for column in samples[0]:
            listed.add_column(column, overflow="fold")
        for sample in samples:
            listed.add_row(*(Text(_short(str(v), 120)) for v in sample.values()))
        parts.append(listed)
    return parts


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


# ---------------------------------------------------------------------------------------
# Markdown


def report_markdown(report: dict) -> str:
    """Write a report as Markdown: the same tables as :func:`render_report`, in full.

    The token-level table is included for NER, and the confusion matrix for single-label
    classification with at most 30 classes.

    Args:
        report: A report dict (see the module docstring).

    Returns:
        The Markdown text, ending with a newline.
    """
    tables = _tables(report)
    lines = ["# Evaluation report", "", f"- Task: {report.get('task')}"]
    if report.get("dataset") is not None:
        lines.append(f"- Dataset: `{report['dataset']}`")
    if report.get("examples") is not None:
        lines.append(f"- Examples: {report['examples']}")
    if report.get("mode"):
        lines.append(f"- Entity matching: {report['mode']}")
    warning = _unknown_labels_line(report)
    if warning:
        lines += ["", f"> **Warning:** {warning}"]
    if tables:
        return "\n".join(lines + tables.markdown(report)) + "\n"
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---:|"]
    lines += [f"| {_md(name)} | {value} |" for name, value in _flat_metrics(report)]
    breakdown = report.get("breakdown") or {}
    if breakdown:
        columns = _breakdown_columns(breakdown)
        lines += ["", "## By group", "", "| | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
        lines += [f"| {_md(name)} | " + " | ".join(_number(row.get(c)) for c in columns) + " |"
                  for name, row in breakdown.items()]
    if report.get("notes"):
        lines += ["", *report["notes"]]
    samples = report.get("samples") or []
    if samples:
        columns = list(samples[0])
        lines += ["", "## Samples", "", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
        lines += ["| " + " | ".join(_md(str(s[c])).replace("\n", " ") for c in columns) + " |" for s in samples]
    return "\n".join(lines) + "\n"


def markdown_score_table(first: str, rows: dict[str, dict], averages: dict[str, dict]) -> list[str]:
    """``score_table`` as Markdown lines."""
    lines = [f"| {first} | precision | recall | f1 | support |", "|---|---:|---:|---:|---:|"]
    for name, row in rows.items():
        lines.append(f"| {_md(name)} | " + " | ".join(_cells(row)) + " |")
    for name, row in averages.items():
        lines.append(f"| **{name}** | " + " | ".join(_cells(row)) + " |")
    return lines


def markdown_confusion(labels: list[str], matrix: list[list[int]]) -> list[str]:
    """A confusion matrix as Markdown lines: gold labels down, predicted labels across."""
    lines = ["| gold \\ pred | " + " | ".join(_md(x) for x in labels) + " |", "|---|" + "---:|" * len(labels)]
    lines += [f"| {_md(label)} | " + " | ".join(str(c) for c in counts) + " |" for label, counts in zip(labels, matrix)]
    return lines


def _md(text: str) -> str:
    # A pipe inside a label would split the table cell.
    return str(text).replace("|", "\\|")


# ---------------------------------------------------------------------------------------
# Files


def write_report(report: dict, out_dir: Path, *, name: str = "report") -> list[Path]:
    """Write a report as JSON, Markdown and PNG plots into ``out_dir``.

    Files: ``{name}.json``, ``{name}.md``, ``{name}_f1_by_type.png`` (per-type or per-class
    F1) and, for single-label classification, ``{name}_confusion_matrix.png`` (normalised by
    row). Each file is written to a temporary file beside it and renamed into place, so a
    reader never sees half a file.

    Args:
        report: A report dict (see the module docstring); numpy numbers are fine.
        out_dir: The directory to write into; created if missing.
        name: The stem of every file name.

    Returns:
        The paths written, in the order above (JSON, Markdown, then plots).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = _tables(report)
    json_path = out_dir / f"{name}.json"
    markdown_path = out_dir / f"{name}.md"
    write_json_atomic(json_path, report)
    write_text_atomic(markdown_path, report_markdown(report))
    written = [json_path, markdown_path]
    if tables is None:  # flat metrics: the tables say it all
        return written
    for suffix, png in tables.plots(report):
        path = out_dir / f"{name}_{suffix}.png"
        _write_bytes_atomic(path, png)
        written.append(path)
    return written


def plot_training_curves(history: list[dict], path: Path) -> Path:
    """Plot loss and dev metrics against the optimizer step, as one PNG.

    Args:
        history: Logged entries, each with ``"step"`` and any of ``"train_loss"``,
            ``"dev_loss"`` and ``"dev_<metric>"`` (``"epoch"``, ``"lr"`` and other keys are
            ignored). Entries need not share keys.
        path: Where to write the PNG (atomically); its directory is created if missing.

    Returns:
        ``path``.
    """
    path = Path(path)
    figure, canvas = _figure((11, 4))
    loss_axes, metric_axes = figure.subplots(1, 2)

    for key, label in (("train_loss", "train"), ("dev_loss", "dev")):
        steps, values = _series(history, key)
        if steps:
            # Dev points are sparse (once per evaluation), so mark them.
            loss_axes.plot(steps, values, label=label, marker="o" if key == "dev_loss" else None, markersize=3)
    metric_keys = sorted(
        {
            key
            for entry in history
            for key, value in entry.items()
            if key.startswith("dev_") and key != "dev_loss" and _is_number(value)
        }
    )
    for key in metric_keys:
        steps, values = _series(history, key)
        metric_axes.plot(steps, values, label=key[len("dev_"):], marker="o", markersize=3)

    loss_axes.set_title("Loss")
    metric_axes.set_title("Dev metrics")
    for axes, has_data in ((loss_axes, bool(loss_axes.lines)), (metric_axes, bool(metric_keys))):
        axes.set_xlabel("step")
        axes.grid(True, alpha=0.3)
        if has_data:
            axes.legend(loc="best", fontsize=8)
        else:
            axes.text(0.5, 0.5, "nothing logged", ha="center", va="center", transform=axes.transAxes, color="gray")
    _write_bytes_atomic(path, _png_bytes(figure, canvas))
    return path


def f1_bars_png(rows: dict[str, dict], what: str) -> bytes:
    """Horizontal F1 bars, one per row (class, entity type), each labelled with its score and support."""
    names = list(rows)
    scores = [rows[n]["f1"] for n in names]
    # The figure grows with the number of bars, up to a height image viewers still open.
    height = min(60.0, max(2.5, 0.32 * len(names) + 1.3))
    size = _label_size((height - 1.3) / max(len(names), 1))
    figure, canvas = _figure((7, height))
    axes = figure.subplots()
    positions = range(len(names))
    axes.barh(positions, scores, color="#4c72b0")
    axes.set_yticks(list(positions), [_short(n) for n in names], fontsize=size)
    axes.set_ylim(len(names) - 0.5, -0.5)  # inverted: the table's first row on top
    axes.set_xlim(0, 1.2)  # room for the value labels past a bar at 1.0
    axes.set_xticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.set_xlabel("F1")
    axes.set_title(f"F1 by {what}")
    for position, (name, score) in enumerate(zip(names, scores)):
        axes.text(score + 0.01, position, f"{score:.3f} (n={rows[name]['support']})", va="center", fontsize=size)
    axes.grid(True, axis="x", alpha=0.3)
    return _png_bytes(figure, canvas)


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
    figure, canvas = _figure((side + 1.0, side))
    axes = figure.subplots()
    image = axes.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    colorbar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    colorbar.set_label("share of the gold row")
    short = [_short(label) for label in labels]
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
    return _png_bytes(figure, canvas)


def _figure(size: tuple[float, float]) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100)
    return figure, FigureCanvasAgg(figure)


def _png_bytes(figure: Any, canvas: Any) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    canvas.print_png(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------
# Shared helpers


def _tables(report: dict) -> ReportTables | None:
    """The report's task's own tables; None for a report of flat metrics."""
    from whet.tasks import TASKS

    task = report.get("task")
    tables = TASKS.get(task).report_tables if task in TASKS else None
    if tables is None and "metrics" not in report:
        with_tables = [name for name in TASKS.names() if TASKS.get(name).report_tables]
        raise ValueError(f"report task {task!r} is not one of {', '.join(with_tables)} and the report has no metrics")
    return tables


def _flat_metrics(report: dict) -> list[tuple[str, str]]:
    """(name, formatted value) of a flat report's metrics, then its generation metrics."""
    rows = list(report["metrics"].items())
    rows += [(f"generation {name}", value) for name, value in (report.get("generation") or {}).items()]
    return [(name, _number(value)) for name, value in rows]


def _summary_line(report: dict) -> str:
    line = f"Evaluation ({report.get('task')}"
    if report.get("multi_label"):
        line += ", multi-label"
    if report.get("mode"):
        line += f", {report['mode']} entity matching"
    line += ")"
    if report.get("examples") is not None:
        line += f": {report['examples']} examples"
    if report.get("dataset") is not None:
        line += f" from {report['dataset']}"
    return line


def _unknown_labels_line(report: dict) -> str | None:
    unknown = report.get("unknown_labels") or {}
    if not unknown:
        return None
    listed = ", ".join(f"{label} ({count})" for label, count in sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0])))
    return (
        f"{len(unknown)} label(s) in the evaluation data were not seen in training and can never "
        f"be predicted: {listed}"
    )


def _series(history: list[dict], key: str) -> tuple[list[float], list[float]]:
    points = [(entry["step"], entry[key]) for entry in history if _is_number(entry.get(key)) and "step" in entry]
    return [p[0] for p in points], [p[1] for p in points]


def _is_number(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _breakdown_columns(breakdown: dict[str, dict]) -> list[str]:
    """Every metric of the groups, in the order they first appear."""
    return list(dict.fromkeys(key for row in breakdown.values() for key in row))


def _number(value: Any) -> str:
    """Counts as integers, scores with 4 decimals, a missing value as an empty cell."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else fmt(value)


def _cells(row: dict) -> list[str]:
    return [*(fmt(row[m]) for m in _METRICS), str(int(row["support"]))]


def fmt(value: float) -> str:
    """A score as the tables show it: 4 decimals."""
    return f"{float(value):.4f}"


def _short(label: str, limit: int = 28) -> str:
    label = str(label)
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _label_size(cell_inches: float) -> float:
    # Half a cell (or bar) high in points: readable, and neighbouring labels do not touch.
    return min(9.0, max(4.0, 0.5 * 72 * cell_inches))
