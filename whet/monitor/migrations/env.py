"""Alembic's environment for the monitor's tables: run on the connection ``open_store`` gives it."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=context.config.attributes["version_table"])
with context.begin_transaction():
    context.run_migrations()
