"""Prediction inputs that are JSON objects, given as parsed records or as command-line strings."""

from __future__ import annotations

import json
from typing import Any

from whet.errors import DataError


def json_record(record: Any, where: str, expected: str) -> dict:
    """``record`` as a dict: a dict as it is, or a string holding a JSON object.

    ``expected`` shows the wanted shape in the error message, e.g. '{"question": "..."}'.
    """
    if isinstance(record, str) and record.lstrip().startswith("{"):
        try:
            record = json.loads(record)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: invalid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object like {expected}")
    return record


def examples_from_records(records: list[Any], expected: str, build: Any) -> list[Any]:
    """``build(record, where)`` for each input; inputs are dicts or strings holding JSON objects."""
    return [build(json_record(record, f"input {n + 1}", expected), f"input {n + 1}")
            for n, record in enumerate(records)]
