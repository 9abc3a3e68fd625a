"""Ingestion: records in, documents scored, stored and windowed, rules judged, alerts out.

Documents are scored in batches through ``Predictor.predict``, the path ``whet predict`` takes.
A batch is committed with the position its file was read up to, so a restart resumes after the
last committed batch and a document is never counted twice (ids are unique).
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whet.data.text_files import parse_json_line
from whet.errors import DataError, WhetError
from whet.monitor.alerts import evaluate_rules, write_alerts
from whet.monitor.documents import Malformed, RecordError, parse_document
from whet.monitor.settings import MonitorConfig
from whet.monitor.store import MonitorStore, Scored
from whet.monitor.watchlist import Watchlist, read_watchlist

log = logging.getLogger("whet.monitor")
MAX_REPORTED = 20  # bad records named in the log per run; the rest are counted


@dataclass
class IngestStats:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    alerts: list[dict] = field(default_factory=list)

    def add(self, other: IngestStats) -> None:
        self.read += other.read
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.alerts += other.alerts


@dataclass
class Scorers:
    """``sentiment(texts)`` -> ``Predictor.predict`` records; ``entities(texts)`` -> NER records or None."""

    sentiment: Callable[[list[str]], list[dict]]
    entities: Callable[[list[str]], list[dict]] | None = None
    entity_types: tuple[str, ...] = ("ORG",)


def load_scorers(config: MonitorConfig) -> Scorers:
    from whet.predict import Predictor

    sentiment = Predictor.from_directory(config.sentiment.model, precision=config.sentiment.precision)
    labels = set(sentiment.labels)
    missing = [label for label in (config.sentiment.negative_label, config.sentiment.positive_label)
               if label not in labels]
    if sentiment.task.name != "sequence-classification" or missing:
        raise WhetError(f"sentiment.model: {config.sentiment.model} must be a sequence classifier with the labels "
                        f"{config.sentiment.negative_label} and {config.sentiment.positive_label} (it has "
                        f"{', '.join(sentiment.labels)}); set sentiment.negative_label and sentiment.positive_label")
    entities = None
    if config.entities is not None:
        entities = Predictor.from_directory(config.entities.model, precision=config.entities.precision).predict
    return Scorers(sentiment.predict, entities, tuple(config.entities.types) if config.entities else ())


class Monitor:
    def __init__(self, config: MonitorConfig, store: MonitorStore, scorers: Scorers,
                 watchlist: Watchlist | None = None) -> None:
        self.config = config
        self.store = store
        self.scorers = scorers
        self.watchlist = watchlist if watchlist is not None else (
            read_watchlist(config.watchlist) if config.watchlist else Watchlist([]))
        self.reported = 0

    def ingest(self, records: Iterable[tuple[str, Any]], *, file: str | None = None,
               positions: Iterable[tuple[int, int]] | None = None,
               report: Callable[[str], None] | None = None) -> IngestStats:
        """Score and store ``(where, record)`` pairs in batches, then judge the closed windows.

        ``file`` with ``positions`` (the byte offset and line number after each record) commits
        the file's read position with each batch. ``report`` receives each rejected record's
        ``"where: reason"`` (default: the log, the first few).
        """
        stats = IngestStats()
        batch: list[tuple[str, Any]] = []
        position = None
        marks = iter(positions) if positions is not None else None
        for item in records:
            batch.append(item)
            position = next(marks) if marks is not None else None
            if len(batch) >= self.config.ingest.batch_size:
                stats.add(self._batch(batch, file, position, report or self._report))
                batch = []
        if batch or (file is not None and position is not None):
            stats.add(self._batch(batch, file, position, report or self._report))
        stats.alerts = self.judge()
        return stats

    def judge(self) -> list[dict]:
        """Judge the windows closed by the latest document; alerts go to the log and the JSONL file."""
        watermark = self.store.latest_timestamp()
        if watermark is None:
            return []
        created = evaluate_rules(self.store, self.config, watermark)
        write_alerts(created, self.config)
        return created

    def _batch(self, batch: list[tuple[str, Any]], file: str | None, position: tuple[int, int] | None,
               report: Callable[[str], None]) -> IngestStats:
        stats = IngestStats(read=len(batch))
        documents = []
        ingest = self.config.ingest
        for where, record in batch:
            try:
                documents.append(parse_document(record, missing_timestamp=ingest.missing_timestamp,
                                                max_chars=ingest.max_chars))
            except RecordError as err:
                stats.rejected += 1
                report(f"{where}: {err}")
        scored = self._score(documents) if documents else []
        stored = self.store.add(scored, file=(file, *position) if file is not None and position else None)
        stats.stored = stored
        stats.duplicates = len(documents) - stored
        return stats

    def _score(self, documents: list) -> list[Scored]:
        texts = [d.text for d in documents]
        records = self.scorers.sentiment(texts)
        found = self.scorers.entities(texts) if self.scorers.entities is not None else [None] * len(texts)
        negative, positive = self.config.sentiment.negative_label, self.config.sentiment.positive_label
        scored = []
        for document, record, entities in zip(documents, records, found):
            keys = self.watchlist.keys(document.text)
            if entities is not None:
                keys += [f"entity:{e['text'].strip()}" for e in entities["entities"]
                         if e["type"] in self.scorers.entity_types and e["text"].strip()]
            probabilities = record["probabilities"]
            scored.append(Scored(document, record["label"], float(probabilities.get(negative, 0.0)),
                                 float(probabilities.get(positive, 0.0)), list(dict.fromkeys(keys))))
        return scored

    def _report(self, problem: str) -> None:
        self.reported += 1
        if self.reported <= MAX_REPORTED:
            log.warning("skipped %s", problem)
        elif self.reported == MAX_REPORTED + 1:
            log.warning("more records skipped; they are counted, not listed")


def file_records(path: Path, offset: int, line: int) -> Iterator[tuple[tuple[str, Any], tuple[int, int]]]:
    """``((where, record), (offset after, line))`` for each complete line of a JSON Lines file
    after ``offset``; a malformed line yields a ``RecordError`` in place of its record. A last
    line without its newline may still be being written: it is left for the next read."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            offset += len(raw)
            line += 1
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            where = f"{path}:{line}"
            try:
                record: Any = parse_json_line(text, where)
            except DataError as err:
                record = Malformed(str(err).split(": ", 1)[-1])
            yield (where, record), (offset, line)


def input_files(paths: list[Path]) -> list[Path]:
    """Files given, and the ``*.jsonl`` files of folders given, in name order."""
    found = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.glob("*.jsonl"))
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(f"{path} not found; give JSON Lines files or folders of them")
    return found


def ingest_files(monitor: Monitor, paths: list[Path]) -> IngestStats:
    """Each file from where the last run stopped; new lines appended since are picked up."""
    stats = IngestStats()
    for path in input_files(paths):
        key = str(path.resolve())
        offset, line = monitor.store.file_position(key)
        if path.stat().st_size < offset:
            log.warning("%s is shorter than when it was last read; reading it again from the start", path)
            offset, line = 0, 0
        if path.stat().st_size <= offset:
            continue
        # Read lazily: ingest takes a record and its position in step, so tee holds one pair at a time.
        records, marks = itertools.tee(file_records(path, offset, line))
        stats.add(monitor.ingest((item for item, _ in records), file=key, positions=(pos for _, pos in marks)))
    return stats


def stdin_records(stream: Any = None) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(stream or sys.stdin, 1):
        if line.strip():
            where = f"stdin:{number}"
            try:
                yield where, parse_json_line(line, where)
            except DataError as err:
                yield where, Malformed(str(err).split(": ", 1)[-1])
