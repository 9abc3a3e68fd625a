"""Documents, their mentions (what windows count), alerts, and ingestion progress.

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
        "monitor_documents",
        sa.Column("id", sa.String(256), primary_key=True),
        sa.Column("timestamp", sa.Float, nullable=False, index=True),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("negative", sa.Float, nullable=False),
        sa.Column("positive", sa.Float, nullable=False),
        sa.Column("keys", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("ingested_at", sa.Float, nullable=False),
    )
    op.create_table(
        "monitor_mentions",
        sa.Column("document_id", sa.String(256), primary_key=True),
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
    )
    op.create_index("ix_monitor_mentions_key_time", "monitor_mentions", ["key", "timestamp"])
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("window_end", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("delivery", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", sa.Float),
        sa.UniqueConstraint("rule", "key", "window_start", name="uq_monitor_alert_window"),
    )
    op.create_table(
        "monitor_rule_progress",
        sa.Column("rule", sa.String(128), primary_key=True),
        sa.Column("evaluated_until", sa.Float, nullable=False),
    )
    op.create_table(
        "monitor_files",
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("offset", sa.Integer, nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("monitor_files", "monitor_rule_progress", "monitor_alerts", "monitor_mentions", "monitor_documents"):
        op.drop_table(table)
