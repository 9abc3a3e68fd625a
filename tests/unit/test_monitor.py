"""The sentiment monitor's core over a real SQLite file, with a scripted sentiment model:
records, the watchlist, ingestion that resumes and counts each document once, windows, change
detection and alerts with their evidence."""

from __future__ import annotations

import json
import random

import pytest

from whet.monitor.detection import Window, detect
from whet.monitor.documents import RecordError, parse_document, parse_timestamp
from whet.monitor.pipeline import Monitor, Scorers, ingest_files, stdin_records
from whet.monitor.settings import MonitorConfig
from whet.monitor.store import MonitorStore
from whet.monitor.watchlist import read_watchlist
from whet.monitor.windows import window_figures

HOUR = 3600
START = 1_780_000_000 - 1_780_000_000 % 86400  # a midnight, UTC


def fake_sentiment(texts):
    records = []
    for text in texts:
        label = "negative" if "plunge" in text else "positive" if "soar" in text else "neutral"
        probabilities = {"negative": 0.1, "neutral": 0.1, "positive": 0.1, label: 0.8}
        records.append({"text": text, "label": label, "score": 0.8, "probabilities": probabilities})
    return records


WATCHLIST = """
companies:
  - {name: Nokia, aliases: [Nokia Oyj], ticker: NOKIA}
  - {name: Kone, ticker: KNEBV}
topics:
  - {name: layoffs, keywords: [layoffs, job cuts]}
"""


@pytest.fixture
def make(tmp_path):
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST)
    stores = []

    def build(**settings):
        raw = {"sentiment": {"model": "unused"}, "watchlist": str(tmp_path / "watchlist.yaml"),
               "database": str(tmp_path / "monitor.db"), "windows": ["1h"],
               "alerts": {"jsonl": str(tmp_path / "alerts.jsonl"), "rules": [
                   {"name": "negative-surge", "entities": ["Nokia", "Kone"], "window": "1h", "threshold": 2.0,
                    "baseline_windows": 24, "min_volume": 5, "cooldown_windows": 3}]}}
        for key, value in settings.items():
            raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
        config = MonitorConfig.model_validate(raw)
        store = MonitorStore(config.database)
        stores.append(store)
        return Monitor(config, store, Scorers(fake_sentiment))

    yield build
    for store in stores:
        store.close()


def stream(hours: int, surge: range, seed: int = 0) -> list[dict]:
    """Ten documents an hour about Nokia or Kone, a tenth negative; Nokia's negative share is
    half in the ``surge`` hours."""
    rng = random.Random(seed)
    records = []
    for hour in range(hours):
        for i in range(10):
            company = "Nokia" if i % 2 == 0 else "Kone"
            negative = rng.random() < (0.5 if company == "Nokia" and hour in surge else 0.1)
            verb = "shares plunge" if negative else "results steady"
            records.append({"id": f"{hour}-{i}", "timestamp": START + hour * HOUR + i * 300,
                            "source": "wire", "text": f"{company} {verb} after the report"})
    return records


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_records_and_timestamps():
    assert parse_timestamp("2026-03-01T09:30:00Z") == parse_timestamp("2026-03-01T10:30:00+01:00") == 1772357400.0
    assert parse_timestamp("2026-03-01T09:30:00") == 1772357400.0 and parse_timestamp(1772357400) == 1772357400.0
    doc = parse_document({"id": 7, "timestamp": "1772357400", "text": "Hi", "metadata": {"lang": "en"}})
    assert (doc.id, doc.timestamp, doc.metadata) == ("7", 1772357400.0, {"lang": "en"})
    assert parse_document({"id": "x", "text": "t"}, missing_timestamp="now", now=5.0).timestamp == 5.0
    for record, reason in [({"id": "x", "text": "t"}, "\"timestamp\" is missing; give one, or set ingest.missing_timestamp"),
                           ({"id": "x", "text": "t", "timestamp": "yesterday"}, "neither ISO 8601"),
                           ({"text": "t", "timestamp": 1}, "\"id\" is missing"),
                           ({"id": "x", "text": " ", "timestamp": 1}, "\"text\" is missing or empty"),
                           ({"id": "x", "text": "abc", "timestamp": 1, "lang": "en"}, "unknown field 'lang'"),
                           ({"id": "x", "text": "a" * 11, "timestamp": 1}, "more than ingest.max_chars (10)")]:
        with pytest.raises(RecordError, match=reason.replace("(", r"\(").replace(")", r"\)")):
            parse_document(record, max_chars=10)


def test_watchlist_matches_names_aliases_tickers_and_topics(tmp_path):
    (tmp_path / "w.yaml").write_text(WATCHLIST)
    watchlist = read_watchlist(tmp_path / "w.yaml")
    assert watchlist.keys("NOKIA OYJ announces job cuts") == ["entity:Nokia", "topic:layoffs"]
    assert watchlist.keys("$KNEBV up 3%") == ["entity:Kone"] and watchlist.keys("knebv") == []
    assert watchlist.keys("Nokian Tyres") == []
    (tmp_path / "bad.yaml").write_text("companies:\n  - {name: X, tickr: Y}\n")
    with pytest.raises(Exception, match="companies.0.tickr"):
        read_watchlist(tmp_path / "bad.yaml")


def test_window_figures_and_detectors():
    figures = window_figures(100, 20, 50)
    assert (figures["negative_share"], figures["index"]) == (0.2, 0.3)
    assert figures["index_low"] == pytest.approx(0.3 - 1.96 * ((0.7 - 0.09) / 100) ** 0.5, abs=1e-4)
    baseline = [Window(i, 10, 1) for i in range(24)]
    assert detect(Window(99, 10, 5), baseline, metric="negative_share", detector="ratio", threshold=2,
                  min_volume=5).changed
    assert not detect(Window(99, 10, 2), baseline, metric="negative_share", detector="ratio", threshold=2,
                      min_volume=5).changed
    guarded = detect(Window(99, 3, 3), baseline, metric="negative_share", detector="ratio", threshold=2, min_volume=5)
    assert not guarded.changed and "too few documents" in guarded.detail
    assert detect(Window(99, 40, 4), baseline, metric="volume", detector="ratio", threshold=3, min_volume=5).changed
    assert detect(Window(99, 10, 6), baseline, metric="negative_share", detector="page_hinkley", threshold=0.3,
                  min_volume=5).changed
    assert not detect(Window(99, 10, 2), baseline, metric="negative_share", detector="page_hinkley", threshold=0.3,
                      min_volume=5).changed


def test_a_surge_is_alerted_once_with_its_evidence(make, tmp_path):
    monitor = make()
    write(tmp_path / "news.jsonl", stream(48, surge=range(36, 39)))
    stats = ingest_files(monitor, [tmp_path / "news.jsonl"])
    assert (stats.read, stats.stored, stats.rejected, stats.duplicates) == (480, 480, 0, 0)
    assert [(a["key"], a["window_start"]) for a in stats.alerts] == [("entity:Nokia", START + 36 * HOUR)]
    evidence = stats.alerts[0]["evidence"]
    assert evidence["window"]["volume"] == 5 and evidence["window"]["negative_share"] >= 0.6
    assert evidence["baseline"]["windows"] == 24 and evidence["baseline"]["negative_share"] < 0.2
    assert evidence["documents"] and all("Nokia shares plunge" in d["text"] for d in evidence["documents"][:3])
    assert "x the baseline" in evidence["why"]
    written = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [w["alert"] for w in written] == [stats.alerts[0]["id"]]
    # Nothing new: a second run reads nothing and alerts nothing.
    again = ingest_files(monitor, [tmp_path / "news.jsonl"])
    assert (again.read, again.alerts) == (0, [])


def test_ingestion_resumes_counts_once_and_skips_bad_lines(make, tmp_path):
    monitor = make()
    records = stream(30, surge=range(0))
    path = tmp_path / "feed.jsonl"
    lines = [json.dumps(r) for r in records[:100]] + ["{not json", json.dumps({"id": "no-time", "text": "x"})]
    path.write_text("\n".join(lines) + "\n" + json.dumps(records[100]))  # the last line is still being written
    first = ingest_files(monitor, [path])
    assert (first.read, first.stored, first.rejected) == (102, 100, 2)
    # A restart (a new Monitor on the same database) picks up where the last committed batch ended.
    monitor = make()
    with open(path, "a") as handle:
        handle.write("\n" + "\n".join(json.dumps(r) for r in records[101:150]) + "\n")
        handle.write(json.dumps(records[0]) + "\n")  # sent twice
    second = ingest_files(monitor, [path])
    assert (second.read, second.stored, second.duplicates) == (51, 50, 1)
    assert monitor.store.document_count() == 150
    # Out of order: an early document lands in its own window.
    late = monitor.ingest(stdin_records([json.dumps({"id": "late", "timestamp": START + 5, "text": "Nokia soar"})]))
    assert late.stored == 1
    counts = monitor.store.window_counts(HOUR, start=START, end=START + HOUR, negative_label="negative",
                                         positive_label="positive", keys=["entity:Nokia"])
    assert counts[0].documents == 6 and counts[0].positive == 1


def test_alert_webhook_delivery_keeps_alerts_until_delivered(make, tmp_path):
    from whet.io.webhook import WebhookDelivery
    from whet.monitor.alerts import alert_payload

    monitor = make(alerts={"webhook": "http://127.0.0.1:9/alerts"})
    write(tmp_path / "news.jsonl", stream(48, surge=range(30, 33), seed=1))
    alerts = ingest_files(monitor, [tmp_path / "news.jsonl"]).alerts
    assert alerts and all(a["delivery"] == "pending" for a in alerts)
    sent = []
    delivery = WebhookDelivery(monitor.store, "http://127.0.0.1:9/alerts", alert_payload, what="alert",
                               kept_in="the alerts table", max_attempts=3, backoff_s=1, timeout_s=1,
                               post=lambda url, payload, timeout: sent.append(payload) or (None if len(sent) > 1 else "down"))
    delivery.deliver_due(now=alerts[0]["created_at"] + 1)
    assert monitor.store.alerts()[0]["delivery"] == "pending"  # the first attempt failed
    delivery.deliver_due(now=alerts[0]["created_at"] + 100)
    assert all(a["delivery"] == "delivered" for a in monitor.store.alerts())
    assert sent[-1]["rule"] == "negative-surge" and sent[-1]["evidence"]["documents"]


def test_report_writes_markdown_and_a_chart_per_key(make, tmp_path):
    from whet.monitor.report import write_report

    monitor = make()
    write(tmp_path / "news.jsonl", stream(48, surge=range(36, 39)))
    ingest_files(monitor, [tmp_path / "news.jsonl"])
    report = write_report(monitor.store, monitor.config, tmp_path / "report", since=START + 24 * HOUR)
    text = report.read_text()
    assert "## Alerts" in text and "| entity:Nokia | negative-surge |" in text
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        "## Alerts", "## overall", "## entity:Kone", "## entity:Nokia"]
    assert "![entity:Nokia](entity-Nokia.png)" in text and "Nokia shares plunge" in text
    png = (tmp_path / "report" / "entity-Nokia.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_the_shipped_demo_stream_alerts_the_surge_it_holds(tmp_path):
    """configs/monitor: its rules over its demo stream, with sentiment read off the demo's wording."""
    from tests.conftest import ROOT
    from whet.monitor.settings import load_monitor_config

    negative = ("cut its", "job cuts", "fell", "operating loss", "redundancies", "production halt", "warned")
    positive = ("raised", "rose", "won", "climbed", "record")

    def by_wording(texts):
        records = []
        for text in texts:
            label = ("negative" if any(w in text for w in negative) else
                     "positive" if any(w in text for w in positive) else "neutral")
            records.append({"label": label, "probabilities": {"negative": 0.1, "neutral": 0.1, "positive": 0.1,
                                                              label: 0.8}})
        return records

    config = load_monitor_config(ROOT / "configs" / "monitor" / "monitor.yaml",
                                 [f"database={tmp_path / 'demo.db'}", f"alerts.jsonl={tmp_path / 'alerts.jsonl'}"])
    store = MonitorStore(config.database)
    try:
        stats = ingest_files(Monitor(config, store, Scorers(by_wording)),
                             [ROOT / "configs" / "monitor" / "demo-stream.jsonl"])
    finally:
        store.close()
    assert stats.rejected == 0 and stats.stored == stats.read > 400
    surges = {(a["rule"], a["key"], a["evidence"]["window"]["start"]) for a in stats.alerts}
    assert ("negative-surge", "entity:Borealis Telecom", "2026-03-02T10:00:00Z") in surges
    assert all(key in ("entity:Borealis Telecom", "overall", "topic:layoffs", "topic:guidance")
               and "2026-03-02T10" <= start < "2026-03-02T13" for _, key, start in surges), surges


def test_validate_lists_the_monitor_config_problems(tmp_path):
    from whet.monitor.checks import monitor_problems

    (tmp_path / "w.yaml").write_text("companies:\n  - {name: X, tickr: Y}\n")
    (tmp_path / "m.yaml").write_text("sentiment: {model: missing-model}\nwatchlist: w.yaml\nwindows: [1h]\n"
                                     "alerts: {rules: [{name: r, window: 1d}]}\n")
    assert monitor_problems(tmp_path / "m.yaml") == ["alert rule 'r' watches 1d windows; add 1d to windows"]
    (tmp_path / "m.yaml").write_text("sentiment: {model: missing-model}\nwatchlist: w.yaml\nwindows: [1h]\n")
    problems = monitor_problems(tmp_path / "m.yaml")
    assert problems[0].startswith("sentiment.model: model directory") and "does not exist" in problems[0]
    assert problems[1].startswith("watchlist: ") and "companies.0.tickr" in problems[1]


def test_a_full_database_stops_ingestion_with_one_line_and_keeps_no_partial_batch(make, tmp_path):
    import sqlalchemy as sa

    from whet.errors import ConfigError

    monitor = make(ingest={"batch_size": 20})
    write(tmp_path / "news.jsonl", stream(2, surge=range(0)))
    assert ingest_files(monitor, [tmp_path / "news.jsonl"]).stored == 20
    stored, position = monitor.store.document_count(), monitor.store.file_position(str(tmp_path / "news.jsonl"))

    # SQLite's page limit fails a write exactly as a full disk does (SQLITE_FULL), on every new connection.
    @sa.event.listens_for(monitor.store.engine, "connect")
    def _no_room(connection, _record):
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")

    monitor.store.engine.dispose()
    more = [{**record, "id": f"big-{i}", "text": record["text"] + " " + "filler " * 2000}
            for i, record in enumerate(stream(2, surge=range(0), seed=1))]
    with (tmp_path / "news.jsonl").open("a") as appended:
        appended.write("".join(json.dumps(r) + "\n" for r in more))
    with pytest.raises(ConfigError) as failure:
        ingest_files(monitor, [tmp_path / "news.jsonl"])
    message = str(failure.value)
    assert "\n" not in message and "database or disk is full" in message and message.endswith("free space")
    # The failed batch left no rows and no read position behind: a rerun with room starts where it stopped.
    assert monitor.store.document_count() == stored
    assert monitor.store.file_position(str(tmp_path / "news.jsonl")) == position
