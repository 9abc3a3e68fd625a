"""``whet monitor serve``: documents posted over HTTP (a bad record, a duplicate), the JSON the
dashboard draws, and the dashboard itself in headless Chromium (keys, charts, alerts, documents)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
import yaml

from tests.integration.monitor.conftest import monitor_config, surge_records
from tests.integration.serve.conftest import API_KEY, Server, free_port, stop
from tests.integration.serve.test_serve_playground import browser_page


@pytest.fixture(scope="module")
def monitor_server(sentiment_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("monitor-serve")
    (root / "watchlist.yaml").write_text("companies:\n  - {name: Nokia, ticker: NOKIA}\n")
    (root / "monitor.yaml").write_text(yaml.safe_dump(monitor_config(sentiment_model)))
    (root / "keys.txt").write_text(API_KEY + "\n")
    port = free_port()
    log = root / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "whet", "monitor", "serve", "monitor.yaml", "--port", str(port),
                                "--api-keys", "keys.txt"], cwd=root, env=env, stdout=log.open("w"),
                               stderr=subprocess.STDOUT)
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.alive(), server.log_text()[-3000:]
        try:
            if server.get("/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.25)
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture(scope="module")
def posted(monitor_server):
    records = surge_records()
    with monitor_server.client() as client:
        first = client.post("/v1/monitor/documents", json={"documents": records[:20]})
        second = client.post("/v1/monitor/documents", json={"documents": [
            *records[15:], {"id": "bad", "text": "Nokia without a time"}]})
    return first, second


def test_posted_documents_are_stored_once_and_alerted(posted):
    first, second = posted
    assert first.status_code == 200 and first.json()["stored"] == 20 and first.json()["alerts"] == []
    body = second.json()
    assert (body["received"], body["stored"], body["duplicates"]) == (26, 20, 5)
    assert body["rejected"] == [{"index": 25, "reason": body["rejected"][0]["reason"]}]
    assert "timestamp" in body["rejected"][0]["reason"]
    assert sorted(a["key"] for a in body["alerts"]) == ["entity:Nokia", "overall"]


def test_series_alerts_and_documents(monitor_server, posted):
    with monitor_server.client() as client:
        assert client.get("/v1/monitor/keys").json() == {"keys": ["overall", "entity:Nokia"], "windows": ["1h"]}
        series = client.get("/v1/monitor/series", params={"key": "entity:Nokia", "windows": 8}).json()
        volumes = [p["volume"] for p in series["points"]]
        assert volumes == [0, 6, 6, 6, 6, 6, 9, 1] and len(series["alerts"]) == 1
        point = series["points"][6]
        assert point["index_low"] <= point["index"] <= point["index_high"]
        documents = client.get("/v1/monitor/documents", params={"key": "entity:Nokia", "limit": 3}).json()["documents"]
        assert len(documents) == 3 and documents[0]["negative"] >= documents[-1]["negative"]
        assert client.get("/v1/monitor/series", params={"window": "5m"}).status_code == 422
    assert monitor_server.get("/v1/monitor/keys").status_code == 401


def test_dashboard_draws_the_series_and_lists_alerts(monitor_server, posted):
    with browser_page(monitor_server.url + "/monitor") as (page, errors):
        page.wait_for_selector("#error:has-text('Error 401')")
        page.fill("#api-key", API_KEY)
        page.dispatch_event("#api-key", "change")
        page.wait_for_selector("body[data-loaded='overall|1h']")
        assert page.locator("#key option").all_text_contents() == ["overall", "entity:Nokia"]
        page.select_option("#key", "entity:Nokia")
        page.wait_for_selector("body[data-loaded='entity:Nokia|1h']")
        assert page.locator("#index-chart canvas").count() == 1 and page.locator("#volume-chart canvas").count() == 1
        assert page.get_attribute("#index-chart", "data-alerts") == "1"
        rows = page.locator("#alerts tbody tr")
        assert rows.count() == 1 and "surge" in rows.first.text_content()
        assert page.locator("#documents tbody tr").count() > 0
        assert page.text_content("#error") == ""
    assert all("401" in error for error in errors), errors


def test_a_locked_database_answers_503_and_acknowledges_nothing(monitor_server, posted):
    import sqlite3

    record = {"id": "after-lock", "timestamp": surge_records()[-1]["timestamp"], "text": "Nokia after the lock"}
    holder = sqlite3.connect(monitor_server.log.parent / "monitor.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the file past the server's busy timeout
    try:
        with monitor_server.client() as client:
            refused = client.post("/v1/monitor/documents", json={"documents": [record]}, timeout=60)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert refused.json()["detail"].startswith("database ") and "locked" in refused.json()["detail"]
    with monitor_server.client() as client:  # sent again once the lock is gone: stored, once
        again = client.post("/v1/monitor/documents", json={"documents": [record]})
    assert again.status_code == 200 and (again.json()["stored"], again.json()["duplicates"]) == (1, 0)
