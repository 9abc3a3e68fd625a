"""Tasks: each module under this package is one task (head, data formats, encoding, decoding,
metrics, report tables) and exposes ``TASK``, a :class:`whet.tasks.base.Task`.

Adding a task is one module and one line here.
"""

from __future__ import annotations

from pathlib import Path

from whet.registry import Registry

TASKS = Registry("task")
TASKS.register("token-classification", "whet.tasks.token_classification:TASK")
TASKS.register("sequence-classification", "whet.tasks.sequence_classification:TASK")
TASKS.register("causal-lm", "whet.tasks.causal_lm:TASK")
TASKS.register("question-answering", "whet.tasks.question_answering:TASK")
TASKS.register("multiple-choice", "whet.tasks.multiple_choice:TASK")
TASKS.register("masked-lm", "whet.tasks.masked_lm:TASK")


def detect_format(path: str | Path, declared: str = "auto", task: str = "token-classification") -> str:
    """Decide the format of a data file from ``data.format`` or the file's extension.

    Args:
        path: The data file.
        declared: ``data.format``; "auto" means use the extension.
        task: The task name; its record lists the formats and what each extension means.

    Returns:
        The format name.

    Raises:
        DataError: The declared format does not fit the task, or the extension is unknown.

    Example:
        >>> detect_format("train.tsv", task="token-classification")
        'conll'
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; use one of {', '.join(TASKS.names())}")
    return TASKS.get(task).detect_format(path, declared)
