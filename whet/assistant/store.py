"""The assistant's database: sessions, their turns, and tickets, through SQLAlchemy.

SQLite by default (one file, WAL, so readers never wait for the writer and concurrent sessions
are safe); any SQLAlchemy URL (``postgresql://...``) for a shared deployment. The schema is
created and upgraded by Alembic (``migrations/``) when the store opens. A turn and the ticket it
opens are committed in one transaction, before the reply is returned: what a customer was told
is on disk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from whet.io.database import check_writable, database_errors, migrate, open_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SETTING = "conversations.database"
metadata = sa.MetaData()
sessions = sa.Table("assistant_sessions", metadata,
                    sa.Column("id", sa.String(128), primary_key=True), sa.Column("started_at", sa.Float),
                    sa.Column("last_at", sa.Float), sa.Column("state", sa.JSON))
turns = sa.Table("assistant_turns", metadata,
                 sa.Column("id", sa.Integer, primary_key=True), sa.Column("session_id", sa.String(128)),
                 sa.Column("at", sa.Float), sa.Column("role", sa.String(16)), sa.Column("text", sa.Text),
                 sa.Column("action", sa.String(16)), sa.Column("details", sa.JSON))
tickets = sa.Table("assistant_tickets", metadata,
                   sa.Column("id", sa.Integer, primary_key=True), sa.Column("session_id", sa.String(128)),
                   sa.Column("created_at", sa.Float), sa.Column("message", sa.Text), sa.Column("intent", sa.String(128)),
                   sa.Column("reason", sa.Text), sa.Column("transcript", sa.JSON), sa.Column("delivery", sa.String(16)),
                   sa.Column("attempts", sa.Integer), sa.Column("next_attempt_at", sa.Float),
                   sa.Column("last_error", sa.Text), sa.Column("delivered_at", sa.Float),
                   sa.Column("resolved_at", sa.Float), sa.Column("resolution_intent", sa.String(128)),
                   sa.Column("resolution_reply", sa.Text), sa.Column("resolved_by", sa.String(128)))


@dataclass
class Session:
    id: str
    started_at: float
    last_at: float
    state: dict


@dataclass
class NewTicket:
    message: str  # the customer's message that was handed off
    reason: str
    intent: str | None
    transcript: list[dict]
    deliver: bool  # a webhook will deliver it


class ConversationStore:
    """Sessions, turns and tickets in one database; safe to share between threads."""

    def __init__(self, database: str, *, busy_timeout_s: float = 5.0) -> None:
        self.where = database
        self.engine = open_engine(database, setting=SETTING, busy_timeout_s=busy_timeout_s)
        with database_errors(database, SETTING):
            migrate(self.engine, MIGRATIONS, "assistant_alembic_version")
            check_writable(self.engine, sessions)

    def close(self) -> None:
        self.engine.dispose()

    # --- sessions and turns ---

    def session(self, session_id: str) -> Session | None:
        with self.engine.connect() as db:
            row = db.execute(sa.select(sessions).where(sessions.c.id == session_id)).mappings().first()
        return Session(row["id"], row["started_at"], row["last_at"], row["state"] or {}) if row else None

    def context(self, session_id: str, since: float, limit: int) -> list[dict]:
        """The last ``limit`` turns of the session's conversation that started at ``since``, oldest first."""
        query = (sa.select(turns.c.role, turns.c.text, turns.c.action, turns.c.at)
                 .where(turns.c.session_id == session_id, turns.c.at >= since)
                 .order_by(turns.c.id.desc()).limit(limit))
        with self.engine.connect() as db:
            return [dict(row) for row in reversed(db.execute(query).mappings().all())]

    def record_turn(self, session: Session, message: str, reply: dict, ticket: NewTicket | None = None) -> int | None:
        """Save the session's state, the message and the reply (and open ``ticket``) in one
        transaction; returns the new ticket's id. ``reply["reply"]`` may hold ``{ticket}``."""
        with database_errors(self.where, SETTING), self.engine.begin() as db:
            ticket_id = None
            if ticket is not None:
                ticket_id = db.execute(tickets.insert().values(
                    session_id=session.id, created_at=session.last_at, message=ticket.message, intent=ticket.intent,
                    reason=ticket.reason, transcript=ticket.transcript, attempts=0,
                    delivery="pending" if ticket.deliver else "none",
                    next_attempt_at=session.last_at if ticket.deliver else None)).inserted_primary_key[0]
                reply["ticket"] = ticket_id
                reply["reply"] = reply["reply"].replace("{ticket}", str(ticket_id))
            values = {"started_at": session.started_at, "last_at": session.last_at, "state": session.state}
            updated = db.execute(sessions.update().where(sessions.c.id == session.id).values(**values)).rowcount
            if not updated:
                db.execute(sessions.insert().values(id=session.id, **values))
            details = {k: v for k, v in reply.items() if k not in ("reply", "action", "session_id")}
            db.execute(turns.insert(), [
                {"session_id": session.id, "at": session.last_at, "role": "customer", "text": message,
                 "action": None, "details": None},
                {"session_id": session.id, "at": session.last_at, "role": "assistant", "text": reply["reply"],
                 "action": reply["action"], "details": details}])
        return ticket_id

    def transcript(self, session_id: str) -> list[dict]:
        query = (sa.select(turns.c.role, turns.c.text, turns.c.action, turns.c.at, turns.c.details)
                 .where(turns.c.session_id == session_id).order_by(turns.c.id))
        with self.engine.connect() as db:
            return [dict(row) for row in db.execute(query).mappings().all()]

    # --- tickets ---

    def ticket(self, ticket_id: int) -> dict | None:
        with self.engine.connect() as db:
            row = db.execute(sa.select(tickets).where(tickets.c.id == ticket_id)).mappings().first()
        return dict(row) if row else None

    def tickets(self, *, session_id: str | None = None, resolved: bool | None = None) -> list[dict]:
        query = sa.select(tickets).order_by(tickets.c.id)
        if session_id is not None:
            query = query.where(tickets.c.session_id == session_id)
        if resolved is not None:
            query = query.where(tickets.c.resolved_at.is_not(None) if resolved else tickets.c.resolved_at.is_(None))
        with self.engine.connect() as db:
            return [dict(row) for row in db.execute(query).mappings().all()]

    def due_deliveries(self, now: float, limit: int = 20) -> list[dict]:
        query = (sa.select(tickets).where(tickets.c.delivery == "pending", tickets.c.next_attempt_at <= now)
                 .order_by(tickets.c.next_attempt_at).limit(limit))
        with self.engine.connect() as db:
            return [dict(row) for row in db.execute(query).mappings().all()]

    def next_delivery_at(self) -> float | None:
        query = sa.select(sa.func.min(tickets.c.next_attempt_at)).where(tickets.c.delivery == "pending")
        with self.engine.connect() as db:
            return db.execute(query).scalar()

    def delivery_attempted(self, ticket_id: int, *, now: float, error: str | None, next_at: float | None) -> None:
        """Record one delivery: done (``error`` None), retried at ``next_at``, or given up (no ``next_at``)."""
        delivery = "delivered" if error is None else "pending" if next_at is not None else "failed"
        with self.engine.begin() as db:
            db.execute(tickets.update().where(tickets.c.id == ticket_id).values(
                attempts=tickets.c.attempts + 1, delivery=delivery, last_error=error, next_attempt_at=next_at,
                delivered_at=now if error is None else None))

    def resolve(self, ticket_id: int, *, intent: str | None, reply: str | None, by: str | None,
                now: float | None = None) -> dict | None:
        """Record how a person resolved a ticket; their reply joins the session's transcript."""
        now = time.time() if now is None else now
        with database_errors(self.where, SETTING), self.engine.begin() as db:
            row = db.execute(sa.select(tickets.c.session_id).where(tickets.c.id == ticket_id)).first()
            if row is None:
                return None
            db.execute(tickets.update().where(tickets.c.id == ticket_id).values(
                resolved_at=now, resolution_intent=intent, resolution_reply=reply, resolved_by=by))
            if reply:
                db.execute(turns.insert().values(session_id=row.session_id, at=now, role="agent", text=reply,
                                                 action=None, details={"ticket": ticket_id}))
        return self.ticket(ticket_id)


