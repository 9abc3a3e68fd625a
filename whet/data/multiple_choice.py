"""Read multiple-choice data from JSON Lines: a question, its options and the right one.

Each line is one question; ``answer`` is the 0-based index of the right option and ``id``
is optional::

    {"id": "q1", "question": "Which one is a fruit?", "options": ["a hammer", "a pear", "a cloud"], "answer": 1}

Every question in one file needs the same number of options: the model scores all options
of a batch together, and options added to fill a shorter question would count as wrong
answers in the training loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from whet.data.examples import ChoiceExample
from whet.data.text_files import json_records, read_text_file
from whet.errors import DataError


def read_choice_jsonl(path: str | Path, *, encoding: str = "utf-8",
                      require_answers: bool = True) -> list[ChoiceExample]:
    """Read a multiple-choice JSON Lines file.

    Args:
        path: The data file.
        encoding: Python codec name.
        require_answers: False when reading questions to predict on (``answer`` may be missing).

    Returns:
        The questions, in file order.
    """
    examples = [choice_example(record, where, require_answer=require_answers)
                for where, record in json_records(read_text_file(path, encoding), path)]
    check_option_counts(examples)
    return examples


def check_option_counts(examples: list[ChoiceExample]) -> None:
    """Raise a DataError naming the first question whose option count differs from the first one's."""
    if not examples:
        return
    first = examples[0]
    for example in examples[1:]:
        if len(example.options) != len(first.options):
            raise DataError(f"{example.source}: {len(example.options)} options, but {first.source} has "
                            f"{len(first.options)}; every question in a file needs the same number of options "
                            f"(add wrong options to the shorter ones or split the file by option count)")


def choice_example(record: dict[str, Any], where: str, *, require_answer: bool = True) -> ChoiceExample:
    """One question from a record with "question", "options", "answer" and optional "id"."""
    question, options = record.get("question"), record.get("options")
    if not isinstance(question, str) or not question.strip():
        raise DataError(f"{where}: 'question' must be a non-empty string")
    if not isinstance(options, list) or len(options) < 2:
        raise DataError(f"{where}: 'options' must be a list of at least 2 strings")
    for number, option in enumerate(options):
        if not isinstance(option, str) or not option.strip():
            raise DataError(f"{where}: option {number} must be a non-empty string")
    answer = record.get("answer")
    if answer is None and require_answer:
        raise DataError(f"{where}: no 'answer'; give the 0-based index of the right option")
    if answer is not None and (isinstance(answer, bool) or not isinstance(answer, int)
                               or not 0 <= answer < len(options)):
        raise DataError(f"{where}: 'answer' is {answer!r}; it must be the 0-based index of the right option, "
                        f"0 to {len(options) - 1}")
    identifier = record.get("id")
    if identifier is not None and (isinstance(identifier, bool) or not isinstance(identifier, (str, int))):
        raise DataError(f"{where}: 'id' must be a string or a number")
    return ChoiceExample(question=question, options=list(options), answer=answer,
                         id=None if identifier is None else str(identifier), source=where)
