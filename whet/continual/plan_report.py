"""The report of a continual plan: the score matrix and its metrics as a rich table, JSON,
Markdown, a heatmap and per-experience score curves.

The report is a plain dict::

    {"metric": "accuracy", "scenario": ..., "strategy": ..., "experiences": [names],
     "splits": {"dev": {"before": [...], "matrix": [[...], ...], "summary": {...}}, "test": {...}},
     "steps": [{"experience": name, "train_seconds": ..., "train_examples": ...}, ...]}

``matrix`` has one row per step done so far; ``test`` is present when an experience has a
test file (None for the others, and no metrics unless every experience has one). Plots use
matplotlib's object API, as ``whet.metrics.report_parts`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from whet.continual.score_matrix import summary
from whet.io.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from whet.metrics.report_parts import new_figure, png_bytes, shortened

REPORT_NAME = "continual_report"
SUMMARY_KEYS = (("average_accuracy", "average accuracy"),
                ("average_incremental_accuracy", "average incremental accuracy"),
                ("mean_forgetting", "mean forgetting"), ("backward_transfer", "backward transfer (BWT)"),
                ("forward_transfer", "forward transfer (FWT)"))


def build_report(*, metric: str, scenario: str, strategy: str, experiences: list[str], scores: dict[str, Any],
                 steps: list[dict]) -> dict:
    """``scores[split]`` is ``{"before": [...], "matrix": [[...], ...]}`` (rows: steps done so far)."""
    def complete(value: dict) -> bool:  # a split some experiences have no file for has no metrics
        return bool(value["matrix"]) and None not in value["before"] + [s for row in value["matrix"] for s in row]

    splits = {split: {**value, "summary": summary(value["matrix"], value["before"]) if complete(value) else {}}
              for split, value in scores.items()}
    return {"metric": metric, "scenario": scenario, "strategy": strategy, "experiences": experiences,
            "splits": splits, "steps": steps,
            "train_seconds": round(sum(step.get("train_seconds", 0.0) for step in steps), 1)}


def _row_names(report: dict) -> list[str]:
    names = report["experiences"]
    return ["before"] + [f"{i + 1}. {names[i]}" for i in range(len(report["splits"]["dev"]["matrix"]))]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def render_continual_report(report: dict) -> RenderableType:
    """Rich tables: for each split, the score matrix (a row per step) and the metrics."""
    parts: list[RenderableType] = [Text(
        f"Continual learning: {report['scenario']}, strategy {report['strategy']}, {report['metric']} "
        f"(training {report['train_seconds']:.0f}s)", style="bold")]
    for split, value in report["splits"].items():
        table = Table(title=f"{split} {report['metric']} after each step (rows) on each experience (columns)")
        table.add_column("after")
        for name in report["experiences"]:
            table.add_column(shortened(name, 16), justify="right")
        for name, row in zip(_row_names(report), [value["before"], *value["matrix"]]):
            table.add_row(name, *(_fmt(score) for score in row))
        parts.append(table)
        lines = [f"{label}: {_fmt(value['summary'].get(key))}" for key, label in SUMMARY_KEYS]
        parts.append(Text("; ".join(lines)))
    return Group(*parts)


def continual_markdown(report: dict) -> str:
    lines = [f"# Continual learning: {report['scenario']}, strategy `{report['strategy']}`", "",
             f"Score: {report['metric']}. Training time: {report['train_seconds']:.0f}s.", ""]
    for split, value in report["splits"].items():
        lines += [f"## {split}", "", "| after | " + " | ".join(report["experiences"]) + " |",
                  "| --- |" + " ---: |" * len(report["experiences"])]
        for name, row in zip(_row_names(report), [value["before"], *value["matrix"]]):
            lines.append(f"| {name} | " + " | ".join(_fmt(score) for score in row) + " |")
        lines += [""] + [f"- {label}: {_fmt(value['summary'].get(key))}" for key, label in SUMMARY_KEYS]
        forgetting = value["summary"].get("forgetting") or []
        if forgetting:
            listed = ", ".join(f"{name} {_fmt(score)}" for name, score in zip(report["experiences"], forgetting))
            lines.append(f"- forgetting per experience: {listed}")
        lines.append("")
    return "\n".join(lines)


def write_continual_report(report: dict, out_dir: Path, *, plots: bool = True) -> list[Path]:
    """``continual_report.json`` and ``.md`` and, with ``plots``, per split ``<split>_matrix.png`` and
    ``<split>_curves.png``."""
    out_dir = Path(out_dir)
    written = [out_dir / f"{REPORT_NAME}.json", out_dir / f"{REPORT_NAME}.md"]
    write_json_atomic(written[0], report)
    write_text_atomic(written[1], continual_markdown(report))
    for split, value in report["splits"].items() if plots else ():
        for name, draw in ((f"{split}_matrix.png", _heatmap_png), (f"{split}_curves.png", _curves_png)):
            write_bytes_atomic(out_dir / name, draw(report, value, split))
            written.append(out_dir / name)
    return written


def _heatmap_png(report: dict, value: dict, split: str) -> bytes:
    import numpy as np

    rows = [value["before"], *value["matrix"]]
    grid = np.array([[np.nan if score is None else score for score in row] for row in rows], dtype=float)
    names = report["experiences"]
    figure, canvas = new_figure((1.2 + 0.9 * len(names), 1.2 + 0.6 * len(rows)))
    axes = figure.subplots()
    image = axes.imshow(grid, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04).set_label(report["metric"])
    axes.set_xticks(range(len(names)), [shortened(n, 16) for n in names], rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(rows)), _row_names(report), fontsize=8)
    axes.set_xlabel("scored on experience")
    axes.set_ylabel("after training")
    axes.set_title(f"{split} {report['metric']}")
    for i, row in enumerate(grid):
        for j, score in enumerate(row):
            if not np.isnan(score):
                axes.text(j, i, f"{score:.2f}", ha="center", va="center", fontsize=7,
                          color="black" if score > 0.6 else "white")
    return png_bytes(figure, canvas)


def _curves_png(report: dict, value: dict, split: str) -> bytes:
    rows = [value["before"], *value["matrix"]]
    figure, canvas = new_figure((8, 4.5))
    axes = figure.subplots()
    for j, name in enumerate(report["experiences"]):
        scores = [float("nan") if row[j] is None else row[j] for row in rows]
        axes.plot(range(len(rows)), scores, marker="o", markersize=3, label=shortened(name, 20))
    axes.set_xticks(range(len(rows)), ["before"] + [str(i) for i in range(1, len(rows))])
    axes.set_xlabel("after training step")
    axes.set_ylabel(f"{split} {report['metric']}")
    axes.set_ylim(-0.02, 1.02)
    axes.set_title("Score of each experience over the plan")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize=7)
    return png_bytes(figure, canvas)
