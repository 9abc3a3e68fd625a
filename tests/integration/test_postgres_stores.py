"""The applications' databases on a real PostgreSQL server (started by the tests on loopback):
the schemas by Alembic; the monitor's ingestion counted once, windows and alerts as on SQLite;
the assistant's sessions, turns and tickets."""

from __future__ import annotations

from tests.integration.monitor.conftest import START, surge_records


def fake_sentiment(texts):
    return [{"label": "neutral", "score": 0.8, "probabilities": {"negative": 0.1, "neutral": 0.8, "positive": 0.1}}
            for _ in texts]


def test_monitor_on_postgresql(postgres_url, tmp_path):
    import json

    from whet.monitor.pipeline import Monitor, Scorers, stdin_records
    from whet.monitor.settings import MonitorConfig
    from whet.monitor.store import MonitorStore
    from whet.monitor.watchlist import Watchlist

    config = MonitorConfig.model_validate({
        "sentiment": {"model": "unused"}, "database": postgres_url, "windows": ["1h"],
        "alerts": {"rules": [{"name": "surge", "window": "1h", "metric": "volume", "baseline_windows": 2,
                              "min_volume": 1, "threshold": 1.4}]}})
    store = MonitorStore(config.database)
    try:
        monitor = Monitor(config, store, Scorers(fake_sentiment), Watchlist([]))
        lines = [json.dumps(r) for r in surge_records()]
        first = monitor.ingest(stdin_records(lines[:25]))
        second = monitor.ingest(stdin_records(lines[20:]))
        assert (first.stored, second.stored, second.duplicates) == (25, 15, 5)
        assert [(a["key"], a["window_start"]) for a in second.alerts] == [("overall", START + 5 * 3600)]
        counts = store.window_counts(3600, start=START, end=START + 7 * 3600, negative_label="negative",
                                     positive_label="positive")
        assert [c.documents for c in counts] == [6, 6, 6, 6, 6, 9, 1]
    finally:
        store.close()
    # A second store on the same database finds the schema at its version and the alert stored once.
    again = MonitorStore(postgres_url)
    try:
        assert len(again.alerts()) == 1 and again.document_count() == 40
    finally:
        again.close()


def test_assistant_conversations_on_postgresql(postgres_url):
    from whet.assistant.store import ConversationStore, NewTicket, Session

    store = ConversationStore(postgres_url)
    try:
        session = Session("pg-1", 10.0, 10.0, {"failures": 1})
        ticket = store.record_turn(session, "help me", {"reply": "ticket {ticket}", "action": "handoff"},
                                   NewTicket("help me", "no answer", None, [{"role": "customer", "text": "help me"}], True))
        assert store.session("pg-1").state == {"failures": 1}
        assert [t["text"] for t in store.transcript("pg-1")] == ["help me", f"ticket {ticket}"]
        assert store.due_deliveries(11.0)[0]["id"] == ticket
        assert store.resolve(ticket, intent="lost_card", reply="Done.", by="sam")["resolution_intent"] == "lost_card"
    finally:
        store.close()
