"""Evaluation reports: a rich table for the terminal, Markdown, JSON and PNG plots.

A report is a plain dict, built by a task's ``evaluate`` from the metric functions in
``whet.metrics``. A task with tables of its own gives them as its ``report_tables`` hook,
found in the task registry by the report's "task", drawn with the parts in
``whet.metrics.report_parts`` (``score_table``, ``confusion_png``, ...); this module assembles
the report around them:

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

Plots are drawn as ``whet.metrics.report_parts`` draws them (matplotlib's object API).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from whet.io.atomic import write_bytes_atomic as _write_bytes_atomic
from whet.io.atomic import write_json_atomic, write_text_atomic
from whet.metrics import report_parts as parts
from whet.metrics.report_parts import ReportTables, is_number, markdown_cell, number_cell, shortened


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
            grouped.add_row(Text(str(name)), *(number_cell(row.get(c)) for c in columns))
        parts.append(grouped)
    parts += [Text(note) for note in report.get("notes") or []]
    samples = report.get("samples") or []
    if samples:
        listed = Table(title="Samples", title_justify="left")
        for column in samples[0]:
            listed.add_column(column, overflow="fold")
        for sample in samples:
            listed.add_row(*(Text(shortened(str(v), 120)) for v in sample.values()))
        parts.append(listed)
    return parts






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
    lines += [f"| {markdown_cell(name)} | {value} |" for name, value in _flat_metrics(report)]
    breakdown = report.get("breakdown") or {}
    if breakdown:
        columns = _breakdown_columns(breakdown)
        lines += ["", "## By group", "", "| | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
        lines += [f"| {markdown_cell(name)} | " + " | ".join(number_cell(row.get(c)) for c in columns) + " |"
                  for name, row in breakdown.items()]
    if report.get("notes"):
        lines += ["", *report["notes"]]
    samples = report.get("samples") or []
    if samples:
        columns = list(samples[0])
        lines += ["", "## Samples", "", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
        lines += ["| " + " | ".join(markdown_cell(str(s[c])).replace("\n", " ") for c in columns) + " |" for s in samples]
    return "\n".join(lines) + "\n"








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
    figure, canvas = parts.new_figure((11, 4))
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
            if key.startswith("dev_") and key != "dev_loss" and is_number(value)
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
    _write_bytes_atomic(path, parts.png_bytes(figure, canvas))
    return path










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
    return [(name, number_cell(value)) for name, value in rows]


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
    points = [(entry["step"], entry[key]) for entry in history if is_number(entry.get(key)) and "step" in entry]
    return [p[0] for p in points], [p[1] for p in points]




def _breakdown_columns(breakdown: dict[str, dict]) -> list[str]:
    """Every metric of the groups, in the order they first appear."""
    return list(dict.fromkeys(key for row in breakdown.values() for key in row))










