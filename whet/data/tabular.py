"""Read text-classification data from JSON Lines, CSV or TSV.

CSV and TSV need a header row and follow the csv module's quoting (a field with the
delimiter, a quote or a line break is wrapped in double quotes). Multi-label cells list
labels separated by ``label_separator``; in JSON Lines the label may also be a list.
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from whet.data.examples import TextExample
from whet.data.text_files import json_records, read_text_file
from whet.errors import DataError

TABULAR_FORMATS = ("jsonl", "csv", "tsv")
_DELIMITERS = {"csv": ",", "tsv": "\t"}
_DELIMITER_NAMES = {"csv": "commas", "tsv": "tabs"}


def _missing_column(where: str, name: str, columns: list[str], setting: str) -> DataError:
    close = difflib.get_close_matches(name, columns, n=1)
    suggestion = f"did you mean {close[0]!r}? " if close else ""
    existing = ", ".join(repr(c) for c in columns) or "none"
    return DataError(
        f"{where}: no column {name!r} (columns: {existing}); "
        f"{suggestion}set {setting} to the column that holds it"
    )


def _table_records(
    text: str, path: str | Path, format: str, required: list[tuple[str, str]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    # newline="" hands line breaks inside quoted fields to the csv module untouched.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_DELIMITERS[format])
    header: list[str] | None = None
    previous_line = 0
    try:
        for row in reader:
            where = f"{path}:{previous_line + 1}"
            previous_line = reader.line_num
            # Blank lines and rows of empty cells (common at the end of spreadsheet
            # exports) carry no example.
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _check_header(row, where, required)
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{where}: {len(row)} fields but the header has {len(header)}; "
                    f"wrap fields that contain {_DELIMITER_NAMES[format]}, quotes or line breaks "
                    f"in double quotes"
                )
            yield where, dict(zip(header, row))
    except csv.Error as err:
        raise DataError(
            f"{path}:{reader.line_num}: {err}; "
            "check the quoting near this line"
        ) from None
    if header is None:
        raise DataError(
            f"{path}: no header row; the first line must name the columns, "
            f"e.g. text{_DELIMITERS[format]}label"
        )


def _check_header(row: list[str], where: str, required: list[tuple[str, str]]) -> list[str]:
    # Column names are stripped: "text, label" is a common hand-written header.
    header = [cell.strip() for cell in row]
    for column in header:
        if header.count(column) > 1:
            raise DataError(f"{where}: column {column!r} appears twice in the header; rename one")
    # A table has the same columns on every row, so they are checked once, here.
    for column, setting in required:
        if column not in header:
            raise _missing_column(where, column, header, setting)
    return header


def _text(value: Any, where: str, column: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"{where}: column {column!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise DataError(
            f"{where}: empty text in column {column!r}; "
            "remove the example or fill it in"
        )
    return value


def _scalar_label(value: Any) -> str | None:
    """A label as a string, or None for anything that is not one value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return None


def _single_label(value: Any, where: str, column: str) -> str:
    if isinstance(value, (list, dict)):
        raise DataError(
            f"{where}: column {column!r} holds a {type(value).__name__}, not one label; "
            f"for several labels per example set data.multi_label: true"
        )
    label = _scalar_label(value)
    if not label:
        raise DataError(
            f"{where}: missing label in column {column!r}; "
            "every training example needs one"
        )
    return label


def _multi_labels(value: Any, where: str, column: str, separator: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        parts: list[Any] = value.split(separator)
    elif isinstance(value, list):
        parts = value
    else:
        parts = [value]
    labels: list[str] = []
    for part in parts:
        label = _scalar_label(part)
        if label is None:
            raise DataError(
                f"{where}: column {column!r} must hold labels as strings (a list, or one string "
                f"separated by {separator!r}), found {part!r}"
            )
        # A repeated label means nothing more in a multi-hot target; keep the first.
        if label and label not in labels:
            labels.append(label)
    return labels


def read_text_examples(
    path: str | Path,
    *,
    format: str,
    encoding: str = "utf-8",
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    multi_label: bool = False,
    label_separator: str = "|",
    require_labels: bool = True,
) -> list[TextExample]:
    """Read classification examples from a JSONL, CSV or TSV file.

    Args:
        path: The data file.
        format: "jsonl", "csv" or "tsv".
        encoding: Python codec name (``data.encoding``).
        text_column: Column (or JSON key) holding the text.
        text_pair_column: Column holding the second text for pair tasks, or None.
        label_column: Column holding the label(s).
        multi_label: Whether an example has zero or more labels instead of exactly one.
            An empty cell then means no labels.
        label_separator: Separates labels in a multi-label cell or JSON string.
        require_labels: False when reading text to predict on: a missing label column
            (or an empty label) gives ``labels=[]`` instead of an error.

    Returns:
        The examples, in file order, with ``source`` "path:line" of each record's first line.

    Raises:
        DataError: The file is missing or cannot be decoded, a column is missing, a text or
            label is empty, a line is not valid JSON, a row has the wrong number of fields,
            or the file holds no examples.

    Example:
        >>> read_text_examples("train.csv", format="csv", multi_label=True)  # doctest: +SKIP
        [TextExample(text='great, cheap', labels=['quality', 'price'], ...), ...]
    """
    if format not in TABULAR_FORMATS:
        raise DataError(
            f"{path}: unknown format {format!r}; "
            f"set data.format to one of {', '.join(TABULAR_FORMATS)}"
        )
    text = read_text_file(path, encoding)
    required = [(text_column, "data.text_column")]
    if text_pair_column is not None:
        required.append((text_pair_column, "data.text_pair_column"))
    if require_labels:
        required.append((label_column, "data.label_column"))

    if format == "jsonl":
        records = json_records(text, path)
    else:
        records = _table_records(text, path, format, required)

    examples: list[TextExample] = []
    for where, record in records:
        for column, setting in required:
            if column not in record:
                raise _missing_column(where, column, list(record), setting)
        example_text = _text(record[text_column], where, text_column)
        pair = None
        if text_pair_column is not None:
            pair = _text(record[text_pair_column], where, text_pair_column)
        raw_label = record.get(label_column)
        label_is_blank = raw_label is None or (isinstance(raw_label, str) and not raw_label.strip())
        if multi_label:
            labels = _multi_labels(raw_label, where, label_column, label_separator)
        elif label_is_blank and not require_labels:
            labels = []
        else:
            labels = [_single_label(raw_label, where, label_column)]
        examples.append(TextExample(text=example_text, labels=labels, text_pair=pair, source=where))
    if not examples:
        raise DataError(
            f"{path}: no examples found; "
            "add rows below the header (or JSON objects, one per line)"
        )
    return examples
