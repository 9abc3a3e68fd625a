"""Which reader a data file needs, and reading its text with errors a user can act on.

The readers (``conll``, ``ner_jsonl``, ``tabular``) open files through ``read_text_file``
and parse JSON Lines through ``parse_json_line``, so a missing file, a wrong encoding or a
broken line reads the same everywhere. This module also dispatches to the readers, which
is why it imports them inside the dispatch functions: a top-level import would be circular.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from whet.data.examples import TaggedSentence, TextExample
from whet.errors import DataError

TOKEN_CLASSIFICATION = "token-classification"
SEQUENCE_CLASSIFICATION = "sequence-classification"
CAUSAL_LM = "causal-lm"
QUESTION_ANSWERING = "question-answering"
MULTIPLE_CHOICE = "multiple-choice"

FORMATS_BY_TASK = {
    TOKEN_CLASSIFICATION: ("conll", "jsonl"),
    SEQUENCE_CLASSIFICATION: ("jsonl", "csv", "tsv"),
    CAUSAL_LM: ("text", "jsonl"),
    QUESTION_ANSWERING: ("squad", "jsonl"),
    MULTIPLE_CHOICE: ("jsonl",),
}

# CoNLL files are often tab separated, so for NER a .tsv is CoNLL; for classification it
# is a table. A .txt means CoNLL for NER but says nothing about a classification file.
_FORMAT_BY_EXTENSION = {
    TOKEN_CLASSIFICATION: {
        ".conll": "conll",
        ".txt": "conll",
        ".iob": "conll",
        ".iob2": "conll",
        ".bio": "conll",
        ".bioes": "conll",
        ".tsv": "conll",
        ".jsonl": "jsonl",
        ".json": "jsonl",
    },
    SEQUENCE_CLASSIFICATION: {
        ".jsonl": "jsonl",
        ".json": "jsonl",
        ".csv": "csv",
        ".tsv": "tsv",
    },
    CAUSAL_LM: {
        ".txt": "text",
        ".text": "text",
        ".md": "text",
        ".jsonl": "jsonl",
        ".json": "jsonl",
    },
    # A .json file may hold SQuAD JSON or JSON Lines; the reader looks inside to tell.
    QUESTION_ANSWERING: {".json": "squad", ".jsonl": "jsonl"},
    MULTIPLE_CHOICE: {".json": "jsonl", ".jsonl": "jsonl"},
}


def read_text_file(path: str | Path, encoding: str = "utf-8") -> str:
    """Read a whole data file as text.

    Args:
        path: The data file.
        encoding: Python codec name (``data.encoding``).

    Returns:
        The decoded text, without a leading byte order mark.

    Raises:
        DataError: The file does not exist, is a directory, the encoding is unknown, or the
            bytes cannot be decoded (the message names the line and suggests latin-1).
    """
    file = Path(path)
    if file.is_dir():
        raise DataError(
            f"{path} is a directory, not a data file; "
            "check the path in the data section of the config"
        )
    if not file.exists():
        raise DataError(
            f"{path} not found; check the path in the data section of the config "
            "(data.train, data.dev, data.test)"
        )
    raw = file.read_bytes()
    try:
        text = raw.decode(encoding)
    except LookupError:
        raise DataError(
            f"{path}: unknown encoding {encoding!r}; "
            f"set data.encoding to a Python codec name such as utf-8 or latin-1"
        ) from None
    except UnicodeDecodeError as err:
        # Decoding the good prefix counts lines right in any encoding, not only ASCII-based ones.
        line = raw[: err.start].decode(encoding, errors="replace").count("\n") + 1
        bad = raw[err.start : err.start + 1].hex()
        raise DataError(
            f"{path}:{line}: byte 0x{bad} cannot be decoded as {encoding}; "
            f"set data.encoding to the file's encoding (for example data.encoding: latin-1)"
        ) from None
    return text.removeprefix("\ufeff")


def parse_json_line(line: str, where: str) -> Any:
    """Parse one JSON Lines record, with a message that names the line and the likely fix.

    Args:
        line: The line's text.
        where: "file:line" for the message.

    Returns:
        The parsed value.

    Raises:
        DataError: The line is not valid JSON.
    """
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        hint = "write one JSON object per line"
        if line.lstrip().startswith("["):
            hint = "the file looks like one JSON array; write one JSON object per line (JSON Lines)"
        raise DataError(f"{where}: invalid JSON ({err.msg} at column {err.colno}); {hint}") from None


def json_records(text: str, path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("file:line", object)`` for each non-blank line of a JSON Lines file's text."""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        record = parse_json_line(line, where)
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
        yield where, record


def input_records(path: Path, encoding: str = "utf-8") -> Iterator[tuple[str, Any]]:
    """``("file:line", input)`` for each non-blank line of a file given to ``--input``, lazily:
    the parsed JSON value in a JSON Lines file (.jsonl, .json), the line's text in any other."""
    if not path.is_file():
        raise DataError(f"input file {path} not found; check the path given to --input")
    is_jsonl = path.suffix.lower() in (".jsonl", ".json")
    with open(path, encoding=encoding) as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                where = f"{path}:{number}"
                yield where, parse_json_line(line, where) if is_jsonl else line.rstrip("\r\n")


def detect_format(
    path: str | Path, declared: str = "auto", task: str = TOKEN_CLASSIFICATION
) -> str:
    """Decide the format of a data file from ``data.format`` or the file's extension.

    Args:
        path: The data file.
        declared: ``data.format``; "auto" means use the extension.
        task: "token-classification" (formats conll, jsonl) or "sequence-classification"
            (jsonl, csv, tsv).

    Returns:
        The format name.

    Raises:
        DataError: The declared format does not fit the task, or the extension is unknown.

    Example:
        >>> detect_format("train.tsv", task="token-classification")
        'conll'
    """
    if task not in FORMATS_BY_TASK:
        raise ValueError(f"unknown task {task!r}; use one of {', '.join(FORMATS_BY_TASK)}")
    allowed = FORMATS_BY_TASK[task]
    if declared != "auto":
        if declared not in allowed:
            raise DataError(
                f"{path}: data.format {declared!r} is not a {task} format; use one of "
                f"{', '.join(allowed)} or auto"
            )
        return declared
    extension = Path(path).suffix.lower()
    detected = _FORMAT_BY_EXTENSION[task].get(extension)
    if detected is None:
        raise DataError(
            f"{path}: cannot tell the format from the extension {extension or '(none)'!r}; "
            f"set data.format to one of {', '.join(allowed)}"
        )
    return detected


def read_ner_file(
    path: str | Path, *, format: str = "auto", encoding: str = "utf-8"
) -> list[TaggedSentence]:
    """Read a token-classification data file in CoNLL or JSONL format.

    Args:
        path: The data file.
        format: "conll", "jsonl" or "auto" (from the extension).
        encoding: Python codec name.

    Returns:
        The sentences, in file order.
    """
    from whet.data.conll import read_conll
    from whet.data.ner_jsonl import read_ner_jsonl

    detected = detect_format(path, format, TOKEN_CLASSIFICATION)
    if detected == "conll":
        return read_conll(path, encoding=encoding)
    return read_ner_jsonl(path, encoding=encoding)


def read_classification_file(
    path: str | Path,
    *,
    format: str = "auto",
    encoding: str = "utf-8",
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    multi_label: bool = False,
    label_separator: str = "|",
    require_labels: bool = True,
) -> list[TextExample]:
    """Read a sequence-classification data file in JSONL, CSV or TSV format.

    Args:
        path: The data file.
        format: "jsonl", "csv", "tsv" or "auto" (from the extension).
        encoding: Python codec name.
        text_column: Column (or JSON key) holding the text.
        text_pair_column: Column holding the second text for pair tasks, or None.
        label_column: Column holding the label(s).
        multi_label: Whether an example has zero or more labels instead of exactly one.
        label_separator: Separates labels in a multi-label cell.
        require_labels: False when reading text to predict on: a missing label column
            gives examples with no labels.

    Returns:
        The examples, in file order.
    """
    from whet.data.tabular import read_text_examples

    detected = detect_format(path, format, SEQUENCE_CLASSIFICATION)
    return read_text_examples(
        path,
        format=detected,
        encoding=encoding,
        text_column=text_column,
        text_pair_column=text_pair_column,
        label_column=label_column,
        multi_label=multi_label,
        label_separator=label_separator,
        require_labels=require_labels,
    )
