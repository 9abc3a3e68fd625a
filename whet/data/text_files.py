"""Reading data files' text, and JSON Lines records, with errors a user can act on.

Every reader opens files through ``read_text_file`` and parses JSON Lines through
``parse_json_line``, so a missing file, a wrong encoding or a broken line reads the same
everywhere. Which reader a file needs is the task's business (its formats and extensions).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from whet.errors import DataError


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


def text_lines(text: str, path: str | Path) -> Iterator[tuple[str, str]]:
    """``("file:line", line)`` for each non-blank line of a plain-text file's text, one text a line."""
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            yield f"{path}:{number}", line
