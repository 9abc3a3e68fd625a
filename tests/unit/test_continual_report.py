"""The continual report: table, Markdown, JSON and plots from a score matrix."""

from __future__ import annotations

import json

from rich.console import Console

from whet.continual.plan_report import build_report, continual_markdown, render_continual_report, write_continual_report


def report(test_before=(0.2, None)):
    scores = {"dev": {"before": [0.1, 0.0], "matrix": [[0.9, 0.0], [0.6, 0.8]]},
              "test": {"before": list(test_before), "matrix": [[0.8, None], [0.5, None]]}}
    steps = [{"experience": "one", "train_seconds": 3.0, "train_examples": 10, "best_step": 2},
             {"experience": "two", "train_seconds": 4.5, "train_examples": 12, "best_step": 4}]
    return build_report(metric="accuracy", scenario="class-incremental", strategy="replay",
                        experiences=["one", "two"], scores=scores, steps=steps)


def test_metrics_come_from_complete_matrices_only():
    built = report()
    assert built["splits"]["dev"]["summary"]["mean_forgetting"] == 0.9 - 0.6
    assert built["splits"]["test"]["summary"] == {}  # experience two has no test file
    assert built["train_seconds"] == 7.5


def test_the_report_is_printed_and_written_with_plots(tmp_path):
    built = report()
    console = Console(record=True, width=160)
    console.print(render_continual_report(built))
    text = console.export_text()
    assert "2. two" in text and "0.8000" in text and "mean forgetting: 0.3000" in text
    markdown = continual_markdown(built)
    assert "| 2. two | 0.6000 | 0.8000 |" in markdown and "| 1. one | 0.8000 | - |" in markdown
    assert "forgetting per experience: one 0.3000" in markdown
    written = write_continual_report(built, tmp_path)
    assert [p.name for p in written] == ["continual_report.json", "continual_report.md", "dev_matrix.png",
                                         "dev_curves.png", "test_matrix.png", "test_curves.png"]
    assert json.loads((tmp_path / "continual_report.json").read_text())["splits"]["test"]["matrix"][0] == [0.8, None]
    assert all(p.stat().st_size > 2000 for p in written[2:])
    assert len(write_continual_report(built, tmp_path / "quick", plots=False)) == 2
