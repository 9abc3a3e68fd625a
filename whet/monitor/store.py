"""The monitor's database: documents, their mentions, alerts and ingestion progress.

SQLite by default (one file in WAL mode), any SQLAlchemy URL (``postgresql://...``) for a shared
deployment; Alembic creates and upgrades the schema at start (``migrations/``). A batch of
documents, their mentions and the file position they were read up to are committed in one
transaction: a document is acknowledged only once its row is committed, and a restart resumes
after the last committed batch. A document whose id is already stored is counted once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from whet.io.database import check_writable, database_errors, migrate, open_engine
from whet.monitor.documents import Document

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SETTING = "database"
OVERALL = "overall"
metadata = sa.MetaData()
documents = sa.Table("monitor_documents", metadata, sa.Column("id", sa.String(256), primary_key=True),
                     sa.Column("timestamp", sa.Float), sa.Column("source", sa.String(256)), sa.Column("text", sa.Text),
                     sa.Column("label", sa.String(64)), sa.Column("negative", sa.Float),
                     sa.Column("positive", sa.Float), sa.Column("keys", sa.JSON), sa.Column("metadata", sa.JSON),
                     sa.Column("ingested_at", sa.Float))
mentions = sa.Table("monitor_mentions", metadata, sa.Column("document_id", sa.String(256), primary_key=True),
                    sa.Column("key", sa.String(300), primary_key=True), sa.Column("timestamp", sa.Float),
                    sa.Column("label", sa.String(64)))
alerts = sa.Table("monitor_alerts", metadata, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("rule", sa.String(128)), sa.Column("key", sa.String(300)),
                  sa.Column("window_start", sa.Float), sa.Column("window_end", sa.Float),
                  sa.Column("created_at", sa.Float), sa.Column("evidence", sa.JSON), sa.Column("delivery", sa.String(16)),
                  sa.Column("attempts", sa.Integer), sa.Column("next_attempt_at", sa.Float),
                  sa.Column("last_error", sa.Text), sa.Column("delivered_at", sa.Float))
rule_progress = sa.Table("monitor_rule_progress", metadata, sa.Column("rule", sa.String(128), primary_key=True),
                         sa.Column("evaluated_until", sa.Float))
files = sa.Table("monitor_files", metadata, sa.Column("path", sa.String(1024), primary_key=True),
                 sa.Column("offset", sa.Integer), sa.Column("lines", sa.Integer), sa.Column("updated_at", sa.Float))


@dataclass
class Scored:
    """A document with its sentiment and the keys (entities, topics) it counts for."""

    document: Document
    label: str
    negative: float
    positive: float
    keys: list[str]


@dataclass
class WindowCount:
    key: str
    start: float
    documents: int
    negative: int
    positive: int


class MonitorStore:
    def __init__(self, database: str, *, busy_timeout_s: float = 5.0) -> None:
        self.where = database
        self.engine = open_engine(database, setting=SETTING, busy_timeout_s=busy_timeout_s)
        with database_errors(database, SETTING):
            migrate(self.engine, MIGRATIONS, "monitor_alembic_version")
            check_writable(self.engine, rule_progress)

    def close(self) -> None:
        self.engine.dispose()

    # --- documents ---

    def known_ids(self, ids: list[str]) -> set[str]:
        with self.engine.connect() as db:
            return {row[0] for row in db.execute(sa.select(documents.c.id).where(documents.c.id.in_(ids)))}

    def add(self, scored: list[Scored], *, file: tuple[str, int, int] | None = None) -> int:
        """Store the documents not stored yet (with their mentions) and, in the same transaction,
        a file's read position ``(path, offset, lines)``; returns how many were new."""
        now = time.time()
        with database_errors(self.where, SETTING), self.engine.begin() as db:
            ids = [s.document.id for s in scored]
            known = {row[0] for row in db.execute(sa.select(documents.c.id).where(documents.c.id.in_(ids)))}
            fresh, seen = [], set(known)
            for item in scored:
                if item.document.id not in seen:  # also a duplicate within the batch
                    seen.add(item.document.id)
                    fresh.append(item)
            if fresh:
                db.execute(documents.insert(), [
                    {"id": s.document.id, "timestamp": s.document.timestamp, "source": s.document.source[:256],
                     "text": s.document.text, "label": s.label, "negative": s.negative, "positive": s.positive,
                     "keys": s.keys, "metadata": s.document.metadata, "ingested_at": now} for s in fresh])
                db.execute(mentions.insert(), [
                    {"document_id": s.document.id, "key": key, "timestamp": s.document.timestamp, "label": s.label}
                    for s in fresh for key in dict.fromkeys([OVERALL, *s.keys])])
            if file is not None:
                path, offset, lines = file
                values = {"offset": offset, "lines": lines, "updated_at": now}
                if not db.execute(files.update().where(files.c.path == path).values(**values)).rowcount:
                    db.execute(files.insert().values(path=path, **values))
        return len(fresh)

    def file_position(self, path: str) -> tuple[int, int]:
        """(byte offset, lines) a file was read up to; (0, 0) for a new file."""
        with self.engine.connect() as db:
            row = db.execute(sa.select(files.c.offset, files.c.lines).where(files.c.path == path)).first()
        return (row.offset, row.lines) if row else (0, 0)

    def latest_timestamp(self) -> float | None:
        with self.engine.connect() as db:
            return db.execute(sa.select(sa.func.max(documents.c.timestamp))).scalar()

    def document_count(self) -> int:
        with self.engine.connect() as db:
            return db.execute(sa.select(sa.func.count()).select_from(documents)).scalar()

    # --- windows ---

    def keys(self) -> list[str]:
        with self.engine.connect() as db:
            return [row[0] for row in db.execute(sa.select(mentions.c.key).distinct().order_by(mentions.c.key))]

    def window_counts(self, size: int, *, start: float, end: float, negative_label: str, positive_label: str,
                      keys: list[str] | None = None) -> list[WindowCount]:
        """Documents per key and window of ``size`` seconds over ``[start, end)``; empty windows are absent."""
        window = sa.func.floor(mentions.c.timestamp / size)
        query = (sa.select(mentions.c.key, window.label("window"), sa.func.count().label("n"),
                           sa.func.sum(sa.case((mentions.c.label == negative_label, 1), else_=0)).label("neg"),
                           sa.func.sum(sa.case((mentions.c.label == positive_label, 1), else_=0)).label("pos"))
                 .where(mentions.c.timestamp >= start, mentions.c.timestamp < end)
                 .group_by(mentions.c.key, window).order_by(mentions.c.key, window))
        if keys is not None:
            query = query.where(mentions.c.key.in_(keys))
        with self.engine.connect() as db:
            return [WindowCount(row.key, float(row.window) * size, int(row.n), int(row.neg), int(row.pos))
                    for row in db.execute(query)]

    def most_negative(self, key: str, start: float, end: float, limit: int) -> list[dict]:
        query = (sa.select(documents.c.id, documents.c.timestamp, documents.c.source, documents.c.text,
                           documents.c.label, documents.c.negative)
                 .join(mentions, mentions.c.document_id == documents.c.id)
                 .where(mentions.c.key == key, mentions.c.timestamp >= start, mentions.c.timestamp < end)
                 .order_by(documents.c.negative.desc(), documents.c.id).limit(limit))
        with self.engine.connect() as db:
            return [dict(row) for row in db.execute(query).mappings()]

    # --- rules and alerts ---

    def evaluated_until(self, rule: str) -> float | None:
        with self.engine.connect() as db:
            return db.execute(sa.select(rule_progress.c.evaluated_until).where(rule_progress.c.rule == rule)).scalar()

    def record_evaluation(self, rule: str, until: float, new_alerts: list[dict], *, deliver: bool) -> list[int]:
        """Store a rule's new alerts (one per rule, key and window: a repeat is ignored) and how far
        it has judged the windows, in one transaction; returns the new alerts' ids."""
        now = time.time()
        created = []
        with database_errors(self.where, SETTING), self.engine.begin() as db:
            for alert in new_alerts:
                exists = db.execute(sa.select(alerts.c.id).where(
                    alerts.c.rule == rule, alerts.c.key == alert["key"],
                    alerts.c.window_start == alert["window_start"])).first()
                if exists:
                    continue
                created.append(db.execute(alerts.insert().values(
                    rule=rule, key=alert["key"], window_start=alert["window_start"], window_end=alert["window_end"],
                    created_at=now, evidence=alert["evidence"], attempts=0,
                    delivery="pending" if deliver else "none",
                    next_attempt_at=now if deliver else None)).inserted_primary_key[0])
            values = {"evaluated_until": until}
            if not db.execute(rule_progress.update().where(rule_progress.c.rule == rule).values(**values)).rowcount:
                db.execute(rule_progress.insert().values(rule=rule, **values))
        return created

    def last_alert_window(self, rule: str, key: str) -> float | None:
        with self.engine.connect() as db:
            return db.execute(sa.select(sa.func.max(alerts.c.window_start))
                              .where(alerts.c.rule == rule, alerts.c.key == key)).scalar()

    def alerts(self, *, since: float | None = None, key: str | None = None, ids: list[int] | None = None) -> list[dict]:
        query = sa.select(alerts).order_by(alerts.c.window_start, alerts.c.id)
        if since is not None:
            query = query.where(alerts.c.window_start >= since)
        if key is not None:
            query = query.where(alerts.c.key == key)
        if ids is not None:
            query = query.where(alerts.c.id.in_(ids))
        with self.engine.connect() as db:
            return [dict(row) for row in db.execute(query).mappings()]

    # the whet.io.webhook.DeliveryQueue protocol

    def due_deliveries(self, now: float, limit: int = 20) -> list[dict]:
        query = (sa.select(alerts).where(alerts.c.delivery == "pending", alerts.c.next_attempt_at <= now)
                 .order_by(alerts.c.next_attempt_at).limit(limit))
        with self.engine.connect() as db:
            return [dict(row) for row in db.execute(query).mappings()]

    def delivery_attempted(self, row_id: int, *, now: float, error: str | None, next_at: float | None) -> None:
        delivery = "delivered" if error is None else "pending" if next_at is not None else "failed"
        with self.engine.begin() as db:
            db.execute(alerts.update().where(alerts.c.id == row_id).values(
                attempts=alerts.c.attempts + 1, delivery=delivery, last_error=error, next_attempt_at=next_at,
                delivered_at=now if error is None else None))

    def next_delivery_at(self) -> float | None:
        with self.engine.connect() as db:
            return db.execute(sa.select(sa.func.min(alerts.c.next_attempt_at))
                              .where(alerts.c.delivery == "pending")).scalar()


def first_seen(store: MonitorStore, keys: list[str]) -> dict[str, float]:
    """The first timestamp of each key's documents."""
    query = (sa.select(mentions.c.key, sa.func.min(mentions.c.timestamp)).where(mentions.c.key.in_(keys))
             .group_by(mentions.c.key))
    with store.engine.connect() as db:
        return {key: float(first) for key, first in db.execute(query)}
