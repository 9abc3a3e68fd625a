"""Read extractive question-answering data: SQuAD JSON (v1.1 and v2.0) or JSON Lines.

SQuAD JSON nests documents, paragraphs and questions::

    {"data": [{"title": "...", "paragraphs": [{"context": "...", "qas": [
        {"id": "q1", "question": "...", "answers": [{"text": "...", "answer_start": 12}]},
        {"id": "q2", "question": "...", "answers": [], "is_impossible": true}]}]}]}

A JSON Lines record is one question with its context; ``answers`` is either the Hugging
Face datasets form or a list of objects, and an empty one marks an unanswerable question::

    {"id": "q1", "question": "...", "context": "...", "answers": {"text": ["..."], "answer_start": [12]}}
    {"question": "...", "context": "...", "answers": [{"text": "...", "answer_start": 12}]}

Every answer must occur in the context at its offset; errors name the file and the line
(JSON Lines) or the question id (SQuAD JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from whet.data.examples import Answer, QAExample
from whet.data.text_files import json_records, read_text_file
from whet.errors import DataError


def read_qa_examples(path: str | Path, format: str, *, declared: bool = False, encoding: str = "utf-8",
                     require_answers: bool = True) -> list[QAExample]:
    """Read a question-answering file in ``format``, "squad" (SQuAD JSON) or "jsonl".

    Args:
        path: The data file.
        format: "squad" or "jsonl". A .json file may hold either, so a "squad" file that
            turns out to be JSON Lines is read as such, unless ``declared``.
        declared: The user set data.format to "squad": a file that is not SQuAD JSON is an error.
        encoding: Python codec name.
        require_answers: False when reading questions to predict on: a record without
            ``answers`` gives an example whose ``answers`` is None.

    Returns:
        The questions, in file order.
    """
    text = read_text_file(path, encoding)
    document = _squad_document(text, path, declared=declared) if format == "squad" else None
    if document is None:
        return [qa_example(record, where, require_answers=require_answers)
                for where, record in json_records(text, path)]
    return _squad_examples(document, path, require_answers)


def _squad_document(text: str, path: str | Path, *, declared: bool) -> dict | None:
    """The parsed SQuAD JSON object, or None when the text is JSON Lines instead."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        first = next((line for line in text.split("\n") if line.strip()), "")
        if not declared and (err.msg == "Extra data" or _is_json(first)):
            return None  # JSON Lines; its reader reports any bad line
        raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg} at column {err.colno}); "
                        f"expected SQuAD JSON ({{\"data\": [...]}}) or one JSON object per line") from None
    if isinstance(document, dict) and "data" in document:
        return document
    if not declared and isinstance(document, dict):
        return None  # a JSON Lines file of one record
    raise DataError(f"{path}: expected SQuAD JSON, an object with \"data\": [{{\"paragraphs\": [...]}}, ...]")


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def _squad_examples(document: dict, path: str | Path, require_answers: bool) -> list[QAExample]:
    articles = document["data"]
    if not isinstance(articles, list):
        raise DataError(f"{path}: \"data\" must be a list of articles with \"paragraphs\"")
    examples = []
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataError(f"{path}: data[{a}] must be an object with a \"paragraphs\" list")
        for p, paragraph in enumerate(paragraphs):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise DataError(f"{where} must be an object with \"context\" and a \"qas\" list")
            for q, qa in enumerate(paragraph["qas"]):
                if not isinstance(qa, dict):
                    raise DataError(f"{where}.qas[{q}] must be an object with \"id\", \"question\" and \"answers\"")
                qa_where = f"{path}: question {qa['id']}" if "id" in qa else f"{where}.qas[{q}]"
                impossible = qa.get("is_impossible", False)
                if impossible is True and qa.get("answers"):
                    raise DataError(f"{qa_where}: is_impossible is true but answers are given; "
                                    f"remove the answers or set is_impossible to false")
                record = {**qa, "context": paragraph.get("context")}
                if impossible is True:
                    record["answers"] = []
                examples.append(qa_example(record, qa_where, require_answers=require_answers))
    if not examples:
        raise DataError(f"{path}: no questions found under data[].paragraphs[].qas")
    return examples


def qa_example(record: dict[str, Any], where: str, *, require_answers: bool = True) -> QAExample:
    """One question from a record with "question", "context", optional "id" and "answers".

    With ``require_answers`` False a record may lack "answers" (questions to predict on).
    """
    question, context = record.get("question"), record.get("context")
    for key, value in (("question", question), ("context", context)):
        if not isinstance(value, str) or not value.strip():
            found = "missing" if value is None else f"{type(value).__name__} {value!r}"[:60]
            raise DataError(f"{where}: '{key}' must be a non-empty string (found {found})")
    identifier = record.get("id")
    if identifier is not None and (isinstance(identifier, bool) or not isinstance(identifier, (str, int))):
        raise DataError(f"{where}: 'id' must be a string or a number")
    answers = None
    if "answers" in record:
        answers = parse_answers(record["answers"], context, where)
    elif require_answers:
        raise DataError(f"{where}: no 'answers'; give the answers (an empty list for an unanswerable question)")
    return QAExample(question=question, context=context, answers=answers,
                     id=None if identifier is None else str(identifier), source=where)


def parse_answers(value: Any, context: str, where: str) -> list[Answer]:
    """Gold answers from {"text": [...], "answer_start": [...]}, a list of {"text", "answer_start"}
    objects or one such object; each is checked against the context."""
    if isinstance(value, dict) and isinstance(value.get("text"), list):
        texts, starts = value.get("text"), value.get("answer_start")
        if not isinstance(starts, list) or len(starts) != len(texts):
            raise DataError(f"{where}: 'answers' needs as many 'answer_start' offsets as 'text' entries")
        items = [{"text": t, "answer_start": s} for t, s in zip(texts, starts)]
    elif isinstance(value, dict):
        items = [value]
    elif isinstance(value, list):
        items = value
    else:
        raise DataError(f"{where}: 'answers' must be a list of {{\"text\", \"answer_start\"}} objects "
                        f"or {{\"text\": [...], \"answer_start\": [...]}}")
    answers = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict) or "text" not in item or "answer_start" not in item:
            raise DataError(f"{where}: answer {number} must be an object with \"text\" and \"answer_start\"")
        text, start = item["text"], item["answer_start"]
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: answer {number} text must be a non-empty string; "
                            f"give an empty answers list for an unanswerable question")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise DataError(f"{where}: answer {number} answer_start must be a character offset (a whole number >= 0)")
        check_answer_offset(text, start, context, f"{where}: answer {number}")
        answers.append(Answer(text=text, start=start))
    return answers


def check_answer_offset(text: str, start: int, context: str, where: str) -> None:
    """Raise a DataError unless the context holds ``text`` at character ``start``."""
    found = context[start:start + len(text)]
    if found == text:
        return
    elsewhere = context.find(text)
    hint = (f"it occurs at offset {elsewhere}; fix answer_start" if elsewhere >= 0
            else "the text does not occur in the context; fix the answer text")
    raise DataError(f"{where} {_short(text)!r} is not at answer_start {start} of the context "
                    f"(found {_short(found)!r}); {hint}")


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
