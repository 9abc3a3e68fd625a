"""Task records: their facts agree with each other, reading them needs no torch, and the data
readers below them form no import cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from whet.errors import DataError
from whet.tasks import TASKS
from whet.tasks.base import Task


@pytest.mark.parametrize("name", TASKS.names())
def test_each_record_is_consistent(name):
    task = TASKS.get(name)
    assert isinstance(task, Task) and task.name == name
    assert task.default_metric in task.metrics
    assert set(task.generated_text_metrics) <= set(task.metrics)
    assert set(task.extensions.values()) <= set(task.formats)
    assert all(extension == extension.lower() and extension.startswith(".") for extension in task.extensions)
    assert (task.source_scheme is None) == (task.convert is None)  # given together
    assert not (task.generates and task.onnx_outputs)  # a generating model needs a decoding loop


def test_detect_format_reads_the_record():
    qa = TASKS.get("question-answering")
    assert qa.detect_format("dev.JSON") == "squad" and qa.detect_format("dev.txt", "jsonl") == "jsonl"
    with pytest.raises(DataError, match=r"dev\.txt: data\.format 'conll' is not a question-answering format; "
                                         r"use one of squad, jsonl or auto"):
        qa.detect_format("dev.txt", "conll")


def test_config_validation_reads_the_records_without_torch():
    # A fresh interpreter: this one has imported torch already.
    code = ("import sys; from whet.tasks import TASKS; from whet.validate import config_problems; "
            "[TASKS.get(name) for name in TASKS.names()]; "
            "assert config_problems('configs/demo-intents.yaml') == []; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in the file names, at any depth."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_data_readers_import_no_task_and_form_no_cycle():
    modules = {f"whet.data.{p.stem}": imported_modules(p) for p in (ROOT / "whet" / "data").glob("*.py")}
    for module, imports in modules.items():
        assert not any(name == "whet.tasks" or name.startswith("whet.tasks.") for name in imports), module
    edges = {module: {name for name in imports if name in modules} for module, imports in modules.items()}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for child in edges[start] - seen:
            if child == target or reaches(child, target, seen | {child}):
                return True
        return False

    assert [module for module in modules if reaches(module, module, set())] == []
