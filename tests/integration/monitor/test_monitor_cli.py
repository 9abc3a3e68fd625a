"""``whet monitor ingest`` and ``alerts`` as a user runs them, over a tiny random sentiment model:
a file with a malformed line, a re-run that reads nothing new, stdin, and a locked database."""

from __future__ import annotations

import json
import sqlite3

import pytest
import yaml

from tests.integration.monitor.conftest import LABELS, monitor_config, surge_lines
from tests.integration.test_cli_errors import run_all


@pytest.fixture(scope="module")
def results(sentiment_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("monitor-cli")
    (root / "watchlist.yaml").write_text("companies:\n  - {name: Nokia, ticker: NOKIA}\n")
    config = monitor_config(sentiment_model)
    (root / "monitor.yaml").write_text(yaml.safe_dump(config))
    (root / "locked").mkdir()
    (root / "locked" / "monitor.yaml").write_text(yaml.safe_dump({**config, "watchlist": "../watchlist.yaml"}))
    holder = sqlite3.connect(root / "locked" / "monitor.db")
    holder.execute("CREATE TABLE hold (x)")
    holder.execute("BEGIN EXCLUSIVE")
    lines = surge_lines()
    lines.insert(5, "{broken")
    (root / "news.jsonl").write_text("\n".join(lines) + "\n")
    try:
        first = run_all({"ingest": ["monitor", "ingest", "monitor.yaml", "news.jsonl"],
                         "locked": ["monitor", "ingest", "locked/monitor.yaml", "news.jsonl"]}, cwd=root)
        second = run_all({"again": ["monitor", "ingest", "monitor.yaml", "news.jsonl", "--stdin"],
                          "alerts": ["monitor", "alerts", "monitor.yaml"]}, cwd=root,
                         stdin={"again": json.dumps({"id": "d3", "timestamp": 1, "text": "Nokia again"}) + "\n"})
        yield {**first, **second}, root
    finally:
        holder.rollback()
        holder.close()


def test_ingest_scores_stores_and_skips_the_bad_line(results):
    results, root = results
    ingest = results["ingest"]
    assert ingest.returncode == 0, ingest.stderr
    stats = json.loads(ingest.stdout.strip().splitlines()[-1])
    assert (stats["read"], stats["stored"], stats["rejected"], stats["duplicates"]) == (41, 40, 1, 0)
    assert stats["alerts"] == 2
    assert "news.jsonl:6: invalid JSON" in ingest.stderr
    db = sqlite3.connect(root / "monitor.db")
    labels = {row[0] for row in db.execute("SELECT label FROM monitor_documents")}
    assert labels <= set(LABELS) and db.execute("SELECT count(*) FROM monitor_mentions WHERE key='entity:Nokia'").fetchone()[0] == 40


def test_a_rerun_reads_only_what_is_new(results):
    again = json.loads(results[0]["again"].stdout.strip().splitlines()[-1])
    assert (again["read"], again["stored"], again["duplicates"]) == (1, 0, 1)  # d3 from stdin is a duplicate


def test_alerts_are_printed_with_their_evidence(results):
    alerts = [json.loads(line) for line in results[0]["alerts"].stdout.splitlines() if line.strip()]
    # Hour 5 holds 9 documents against 6 an hour before it: the volume rule (1.4x) alerts for it,
    # for Nokia and overall, once each; no earlier hour does.
    assert sorted(a["key"] for a in alerts) == ["entity:Nokia", "overall"]
    assert {a["window_start"] for a in alerts} == {"2026-05-29T01:00:00Z"}
    assert all(a["evidence"]["window"]["volume"] == 9 and a["evidence"]["baseline"]["windows"] == 2 for a in alerts)


def test_a_locked_database_is_one_line(results):
    locked = results[0]["locked"]
    assert locked.returncode == 2 and locked.stderr.strip().startswith("error: database ")
    assert "is locked" in locked.stderr and "Traceback" not in locked.stderr
