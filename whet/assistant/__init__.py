"""``whet assistant``: a customer-service assistant composed of whet models.

A fine-tuned intent classifier (with its out-of-scope detector) picks the answer template for a
message; a message it does not cover is answered from a knowledge base found by embedding
search; what neither covers becomes a ticket for a person. Conversations, transcripts and tickets
live in a SQL database (SQLite by default), so a restart loses nothing.

Modules, each with one job: ``settings`` (the YAML config), ``answers`` (reply templates and
slots), ``knowledge`` (passages and their search), ``decision`` (what to do with one reading of a
message), ``dialogue`` (multi-turn state: clarifications and slots), ``store`` (the database),
``handoff`` (tickets to a webhook), ``assistant`` (all of it per message), ``evaluation``,
``feedback``, ``checks`` (``whet validate``), ``chat`` (the terminal), ``routes`` (HTTP).
"""
