"""Documents as they arrive: ``{"id", "timestamp", "source", "text", "metadata"?}`` records,
checked one by one so a bad record is reported (with its place) and skipped, never the stream."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass
class Document:
    id: str
    timestamp: float  # seconds since the epoch, UTC
    text: str
    source: str = ""
    metadata: dict = field(default_factory=dict)


class RecordError(ValueError):
    """Why a record was rejected."""


@dataclass
class Malformed:
    """A line that is not JSON, carried to ``parse_document`` so it is counted and reported with the rest."""

    reason: str


def parse_timestamp(value: Any) -> float:
    """ISO 8601 (``2026-03-01T09:30:00Z``; no zone means UTC) or seconds since the epoch."""
    if isinstance(value, bool):
        raise RecordError(f"timestamp {value!r} is neither ISO 8601 nor seconds since the epoch")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise RecordError(f"timestamp {value!r} is neither ISO 8601 (2026-03-01T09:30:00Z) nor seconds since "
                              f"the epoch") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    raise RecordError(f"timestamp {value!r} is neither ISO 8601 (2026-03-01T09:30:00Z) nor seconds since the epoch")


def parse_document(record: Any, *, missing_timestamp: str = "reject", max_chars: int = 20_000,
                   now: float | None = None) -> Document:
    """A ``Document`` from one record, or ``RecordError`` saying what is wrong with it."""
    if isinstance(record, Malformed):
        raise RecordError(record.reason)
    if not isinstance(record, dict):
        raise RecordError(f"expected a JSON object, got {type(record).__name__}")
    unknown = sorted(set(record) - {"id", "timestamp", "source", "text", "metadata"})
    if unknown:
        raise RecordError(f"unknown field {unknown[0]!r}; fields are id, timestamp, source, text, metadata")
    doc_id = record.get("id")
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool) or str(doc_id).strip() == "":
        raise RecordError("\"id\" is missing; give each document a unique id (a string or number)")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise RecordError("\"text\" is missing or empty")
    if len(text) > max_chars:
        raise RecordError(f"text has {len(text)} characters, more than ingest.max_chars ({max_chars})")
    if record.get("timestamp") in (None, ""):
        if missing_timestamp != "now":
            raise RecordError("\"timestamp\" is missing; give one, or set ingest.missing_timestamp: now")
        timestamp = time.time() if now is None else now
    else:
        timestamp = parse_timestamp(record["timestamp"])
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise RecordError("\"metadata\" must be a JSON object")
    source = record.get("source") or ""
    return Document(str(doc_id), timestamp, text, str(source), metadata)
