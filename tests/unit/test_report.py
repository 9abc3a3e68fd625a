"""Report rendering: terminal, Markdown, JSON and PNG files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from rich.console import Console

from whet.metrics.classification import classification_report, multilabel_report
from whet.metrics.ner import ner_report
from whet.metrics.report import plot_training_curves, render_report, report_markdown, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def ner_eval_report() -> dict:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-XDATE"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "O"]]
    entity = ner_report(gold, pred)
    token = entity.pop("token")
    return {
        "task": "token-classification",
        "entity": entity,
        "token": token,
        "dataset": "data/dev.conll",
        "examples": 2,
        "unknown_labels": {"B-XDATE": 1},
    }


def classification_eval_report(n_classes: int = 3) -> dict:
    labels = [f"class_{i}" for i in range(n_classes)]
    gold = [labels[i % n_classes] for i in range(4 * n_classes)]
    pred = [labels[(i * 7) % n_classes] for i in range(4 * n_classes)]
    return {
        "task": "sequence-classification",
        "classes": classification_report(gold, pred, labels),
        "multi_label": False,
        "examples": len(gold),
    }


def multilabel_eval_report() -> dict:
    gold = [{"sports"}, {"sports", "politics"}, set()]
    pred = [{"sports"}, {"politics"}, {"tech"}]
    return {
        "task": "sequence-classification",
        "classes": multilabel_report(gold, pred, ["sports", "politics", "tech"]),
        "multi_label": True,
    }


def rendered_text(report: dict) -> str:
    console = Console(record=True, width=120)
    console.print(render_report(report))
    return console.export_text()


def assert_png(path) -> None:
    data = path.read_bytes()
    assert len(data) > len(PNG_MAGIC)
    assert data.startswith(PNG_MAGIC)


# -- Terminal. ----------------------------------------------------------------------------


def test_render_ner_report_shows_types_averages_and_unknown_labels():
    text = rendered_text(ner_eval_report())
    for name in ("PER", "LOC", "ORG", "XDATE", "micro avg", "macro avg", "weighted avg"):
        assert name in text
    assert "not seen in training" in text and "B-XDATE (1)" in text
    assert "data/dev.conll" in text
    assert "Tokens: accuracy" in text


def test_render_classification_report_shows_classes_and_confusion_matrix():
    text = rendered_text(classification_eval_report())
    for name in ("class_0", "class_1", "class_2", "macro avg", "Accuracy", "Confusion matrix"):
        assert name in text
    assert "not seen in training" not in text


def test_render_hides_confusion_matrices_over_20_classes():
    assert "Confusion matrix" not in rendered_text(classification_eval_report(21))


def test_render_multilabel_report():
    text = rendered_text(multilabel_eval_report())
    for name in ("sports", "politics", "tech", "micro avg", "Subset accuracy"):
        assert name in text


def test_labels_that_look_like_rich_markup_are_shown_literally():
    report = classification_eval_report(2)
    classes = report["classes"]
    classes["labels"] = ["[bold]", "b"]
    classes["per_class"] = {"[bold]": classes["per_class"]["class_0"], "b": classes["per_class"]["class_1"]}
    assert "[bold]" in rendered_text(report)


def test_unknown_task_is_rejected():
    with pytest.raises(ValueError, match="report task 'translation' is not one of"):
        render_report({"task": "translation"})


# -- Markdown. ----------------------------------------------------------------------------


def test_markdown_has_every_table():
    text = report_markdown(ner_eval_report())
    for name in ("| PER |", "| LOC |", "| ORG |", "**micro avg**", "## Tokens", "| B-PER |", "> **Warning:**"):
        assert name in text

    text = report_markdown(classification_eval_report())
    for name in ("| class_0 |", "| class_1 |", "| class_2 |", "## Confusion matrix", "| gold \\ pred |"):
        assert name in text

    text = report_markdown(multilabel_eval_report())
    for name in ("| sports |", "| politics |", "| tech |", "**micro avg**", "Subset accuracy"):
        assert name in text


def test_markdown_confusion_matrix_only_up_to_30_classes():
    assert "## Confusion matrix" in report_markdown(classification_eval_report(30))
    assert "## Confusion matrix" not in report_markdown(classification_eval_report(31))


def test_markdown_escapes_pipes_in_labels():
    report = classification_eval_report(2)
    report["classes"]["per_class"] = {"a|b": report["classes"]["per_class"]["class_0"]}
    assert "| a\\|b |" in report_markdown(report)


# -- Files. -------------------------------------------------------------------------------


def test_write_ner_report(tmp_path):
    report = ner_eval_report()
    paths = write_report(report, tmp_path / "eval")
    names = [p.name for p in paths]
    assert names == ["report.json", "report.md", "report_f1_by_type.png"]
    assert sorted(os.listdir(tmp_path / "eval")) == sorted(names)  # no temp files left
    assert json.loads(paths[0].read_text()) == report
    assert "| PER |" in paths[1].read_text()
    assert_png(paths[2])


def test_write_classification_report_with_numpy_numbers(tmp_path):
    report = classification_eval_report()
    # Callers may hand over numpy scalars (e.g. straight from a metric); JSON must cope.
    report["examples"] = np.int64(12)
    report["classes"]["accuracy"] = np.float64(report["classes"]["accuracy"])
    paths = write_report(report, tmp_path, name="dev")
    assert [p.name for p in paths] == ["dev.json", "dev.md", "dev_f1_by_type.png", "dev_confusion_matrix.png"]
    written = json.loads(paths[0].read_text())
    assert written["examples"] == 12
    assert written["classes"]["confusion_matrix"] == report["classes"]["confusion_matrix"]
    for name in report["classes"]["labels"]:
        assert name in paths[1].read_text()
    for png in paths[2:]:
        assert_png(png)


def test_multilabel_report_has_no_confusion_matrix_plot(tmp_path, monkeypatch):
    # Plotting is the slow part and is covered above; only the file list matters here.
    monkeypatch.setattr("whet.metrics.report_parts.f1_bars_png", lambda rows, what: PNG_MAGIC + b"stub")
    paths = write_report(multilabel_eval_report(), tmp_path)
    assert [p.name for p in paths] == ["report.json", "report.md", "report_f1_by_type.png"]


def test_a_failed_plot_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    monkeypatch.setattr("whet.metrics.report_parts.f1_bars_png", lambda rows, what: PNG_MAGIC + b"new")
    old = tmp_path / "report_f1_by_type.png"
    old.write_bytes(PNG_MAGIC + b"old")
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith(".png"):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_report(ner_eval_report(), tmp_path)
    assert old.read_bytes() == PNG_MAGIC + b"old"
    assert sorted(os.listdir(tmp_path)) == ["report.json", "report.md", "report_f1_by_type.png"]


def test_plot_training_curves(tmp_path):
    history = [{"step": s, "epoch": s / 10, "train_loss": 2.0 / s, "lr": 1e-4} for s in range(1, 21)]
    history += [
        {"step": s, "epoch": s / 10, "dev_loss": 2.5 / s, "dev_f1": 1 - 1 / s, "dev_accuracy": 0.9} for s in (10, 20)
    ]
    path = plot_training_curves(history, tmp_path / "plots" / "curves.png")
    assert path == tmp_path / "plots" / "curves.png"
    assert_png(path)
    assert os.listdir(tmp_path / "plots") == ["curves.png"]


# -- Flat metrics with a breakdown by group (question answering, multiple choice). ----------


def qa_eval_report() -> dict:
    from whet.metrics.squad import squad_scores

    scores = squad_scores([["Porto"], ["baker"], []], ["Porto", "a cook", "Lisbon"])
    return {"task": "question-answering", "examples": 3, "dataset": "dev.json",
            "metrics": {k: v for k, v in scores["all"].items() if k != "examples"},
            "breakdown": {k: v for k, v in scores.items() if k != "all"},
            "notes": ["An empty answer is given when the null score beats the best span by more than 0.0."],
            "unknown_labels": {"no_answer": 1}}


def test_breakdown_table_in_terminal_markdown_and_files(tmp_path):
    report = qa_eval_report()
    text = rendered_text(report)
    assert "Evaluation (question-answering): 3 examples from dev.json" in text
    for expected in ("exact_match", "By group", "answerable", "unanswerable", "0.3333", "null score", "no_answer (1)"):
        assert expected in text
    markdown = report_markdown(report)
    assert "| exact_match | 0.3333 |" in markdown
    assert "| | exact_match | f1 | examples |" in markdown
    assert "| unanswerable | 0.0000 | 0.0000 | 1 |" in markdown
    assert "null score beats" in markdown
    paths = write_report(report, tmp_path)
    assert [p.name for p in paths] == ["report.json", "report.md"]
    assert json.loads(paths[0].read_text())["breakdown"]["answerable"]["examples"] == 2
