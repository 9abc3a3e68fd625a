"""``whet monitor``: financial sentiment monitoring composed of whet models.

Documents (news, posts) arrive from JSON Lines files, stdin or HTTP; each is scored for sentiment
by a whet classifier and tagged with the companies and topics of a watchlist (and, optionally, a
whet NER model's entities); counts per tumbling window and per entity, topic and overall give a
sentiment index and volume; alert rules watch them for changes. Everything lives in a SQL
database (SQLite by default), so a restart continues where it stopped.

Modules, each with one job: ``settings`` (the YAML config and alert rules), ``watchlist``
(companies and topics matched in text), ``documents`` (reading and checking records),
``store`` (the database), ``windows`` (figures per window), ``detection`` (change detectors),
``alerts`` (rules over windows, evidence, delivery), ``pipeline`` (ingest: score, store, detect).
"""
