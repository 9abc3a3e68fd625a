"""Sessions, their turns, and tickets for a person.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assistant_sessions",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("last_at", sa.Float, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
    )
    op.create_table(
        "assistant_turns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(128), nullable=False, index=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("action", sa.String(16)),
        sa.Column("details", sa.JSON),
    )
    op.create_table(
        "assistant_tickets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(128), nullable=False, index=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("intent", sa.String(128)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("transcript", sa.JSON, nullable=False),
        sa.Column("delivery", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", sa.Float),
        sa.Column("resolved_at", sa.Float),
        sa.Column("resolution_intent", sa.String(128)),
        sa.Column("resolution_reply", sa.Text),
        sa.Column("resolved_by", sa.String(128)),
    )
    op.create_index("ix_assistant_tickets_delivery", "assistant_tickets", ["delivery", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_assistant_tickets_delivery", "assistant_tickets")
    op.drop_table("assistant_tickets")
    op.drop_table("assistant_turns")
    op.drop_table("assistant_sessions")
