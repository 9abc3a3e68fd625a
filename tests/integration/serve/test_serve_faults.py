"""Faults and limits on a real server: a model that fails to load, keys from the environment,
rate limits, batching with a long wait, timeouts, and graceful shutdown on SIGTERM (last: it stops the server)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest
import yaml

from tests.integration.serve.conftest import FAULTY_KEYS
from tests.integration.serve.test_serve_api import metric, metric_total


def test_a_model_that_fails_to_load_fails_readiness_with_the_reason(faulty_server):
    ready = faulty_server.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "failed" and body["models"] == {"good": "ready", "broken": "failed"}
    assert re.match(r"model 'broken' failed to load: .*", body["reasons"][0]), body
    assert faulty_server.get("/healthz").status_code == 200 and faulty_server.alive()
    with faulty_server.client(FAULTY_KEYS[0]) as client:
        models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        assert models["broken"]["status"] == "failed" and models["broken"]["error"]
        refused = client.post("/v1/predict", json={"model": "broken", "inputs": ["hello"]})
        assert refused.status_code == 503 and refused.json()["detail"].startswith("model 'broken' is failed: ")
        served = client.post("/v1/predict", json={"model": "good", "inputs": ["hello"]})
        assert served.status_code == 200 and served.json()["predictions"][0]["label"]


def test_keys_from_the_environment(faulty_server):
    with faulty_server.client(key=None) as anonymous:
        assert anonymous.get("/v1/models").status_code == 401
    with faulty_server.client("not-one-of-the-keys-at-all") as stranger:
        assert stranger.get("/v1/models").status_code == 401


def test_rate_limit_per_key_with_retry_after(faulty_server):
    # 1 request/s with a burst of 3: the fourth request in a row is refused; another key is not.
    with faulty_server.client(FAULTY_KEYS[1]) as client:
        statuses = [client.get("/v1/models") for _ in range(4)]
        assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
        refused = statuses[3]
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "rate limit of 1 requests/s exceeded" in refused.json()["detail"]
        assert client.get("/healthz").status_code == 200  # health checks are never rate limited
    with faulty_server.client(FAULTY_KEYS[3]) as other:
        assert other.get("/v1/models").status_code == 200


# 32 texts of 10,000 characters: encoding them keeps the worker busy for most of a second (0.7 s on
# a 2-core VM), long enough for a test to send more requests while their batch runs.
LONG_REQUEST = {"model": "good", "inputs": [" ".join(f"word{i}x{j}" for j in range(1200))[:10_000] for i in range(32)]}


def start_a_long_batch(server, client: httpx.Client, pool: ThreadPoolExecutor) -> Future:
    """Send ``LONG_REQUEST`` and return once its batch runs: counted, and no longer queued."""
    before = metric(server.get("/metrics").text, "whet_model_requests_total", model="good")
    long = pool.submit(client.post, "/v1/predict", json=LONG_REQUEST)
    while not long.done():
        text = server.get("/metrics").text
        if metric(text, "whet_model_requests_total", model="good") > before and \
                metric(text, "whet_queue_depth", lane="good") == 0:
            return long
        time.sleep(0.01)
    raise AssertionError(f"the long request was answered ({long.result().status_code}) before the test saw it run")


def test_a_lone_request_is_not_held_for_the_batch_wait(faulty_server):
    # The faulty server lets a batch wait 1 s for company, but only under load: a request that
    # finds the worker idle starts at once.
    with faulty_server.client(FAULTY_KEYS[5]) as client:
        seconds = []
        for i in range(3):
            started = time.perf_counter()
            response = client.post("/v1/predict", json={"model": "good", "inputs": [f"alone {i}"]})
            seconds.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    assert sorted(seconds)[1] < 0.25, seconds  # the median, against the 1 s window


def test_requests_that_arrive_while_a_batch_runs_share_the_next_batch(faulty_server):
    def batches() -> tuple[float, float]:
        text = faulty_server.get("/metrics").text
        return metric(text, "whet_batch_size_count", lane="good"), metric(text, "whet_batch_size_sum", lane="good")

    count, texts = batches()
    with faulty_server.client(FAULTY_KEYS[6]) as client, ThreadPoolExecutor(3) as pool:
        long = start_a_long_batch(faulty_server, client, pool)
        later = [pool.submit(client.post, "/v1/predict", json={"model": "good", "inputs": [f"later {i}"]})
                 for i in range(2)]
        answers = [future.result() for future in [long, *later]]
    assert [a.status_code for a in answers] == [200] * 3
    # Two model calls: the long request's, then one for both requests that queued behind it.
    assert batches() == (count + 2, texts + 32 + 2)


def test_timeout_gives_504_and_the_loop_stays_free_while_a_batch_waits(faulty_server):
    with faulty_server.client(FAULTY_KEYS[2]) as client, ThreadPoolExecutor(2) as pool:
        start_a_long_batch(faulty_server, client, pool)
        # Queued behind the running batch, it waits up to the faulty server's 1 s for company: long
        # enough to time out and to watch.
        slow = pool.submit(client.post, "/v1/predict", json={"model": "good", "inputs": ["wait for me"]})
        # While the batch waits, the server answers other requests and reports the request queued.
        # (An event loop blocked by the wait could answer only once the batch had taken it: depth 0.)
        depths: list[float] = []
        while not slow.done() and 1.0 not in depths:
            depths.append(metric(faulty_server.get("/metrics").text, "whet_queue_depth", lane="good"))
            time.sleep(0.02)
        assert 1.0 in depths, depths
        assert client.get("/healthz").status_code == 200
        # It joins the waiting batch, and gives up before the batch runs.
        timed_out = client.post("/v1/predict", json={"model": "good", "inputs": ["too slow"], "timeout_s": 0.3})
        assert slow.result().status_code == 200
    assert timed_out.status_code == 504
    assert timed_out.json()["detail"].startswith("the prediction took longer than 0.3 s")
    metrics = faulty_server.get("/metrics").text
    assert 'whet_model_errors_total{model="good",reason="timeout"} 1.0' in metrics


def test_admin_endpoints_are_off_without_admin_keys(faulty_server):
    with faulty_server.client(FAULTY_KEYS[3]) as client:
        refused = client.post("/v1/admin/adapters", json={"name": "x"})
    assert refused.status_code == 403 and "admin endpoints are disabled" in refused.json()["detail"]


def test_sigterm_finishes_in_flight_requests_then_exits(faulty_server):
    def requests_counted() -> float:
        return metric(faulty_server.get("/metrics").text, "whet_model_requests_total", model="good")

    with faulty_server.client(FAULTY_KEYS[4]) as client, ThreadPoolExecutor(3) as pool:
        long = start_a_long_batch(faulty_server, client, pool)
        before = requests_counted()
        in_flight = [pool.submit(client.post, "/v1/predict", json={"model": "good", "inputs": [f"request {i}"]})
                     for i in range(2)]
        # Once the server has counted both, they are queued behind the long batch, then wait for
        # company (1 s).
        while requests_counted() < before + 2 and not all(future.done() for future in in_flight):
            time.sleep(0.02)
        assert not any(future.done() for future in in_flight)
        faulty_server.process.send_signal(signal.SIGTERM)
        answers = [future.result(timeout=30) for future in in_flight]
        assert long.result(timeout=30).status_code == 200
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json()["predictions"][0]["text"] for a in answers] == ["request 0", "request 1"]
    # Uvicorn re-raises the signal once shut down, so the exit status is SIGTERM's; the log shows
    # that the shutdown ran to its end rather than the process being cut off.
    assert faulty_server.process.wait(timeout=30) == -signal.SIGTERM
    log = faulty_server.log_text()
    assert "Application shutdown complete." in log and "Finished server process" in log
    with pytest.raises(httpx.TransportError):
        faulty_server.get("/healthz", timeout=2)


# --- Command-line mistakes: one line, exit code 2, before any model loads ---------------------------
# (each check has a unit test; these few run the real command for the one-line, exit-2 contract)

def test_serve_command_line_errors(tmp_path, serve_models):
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"limits": {"max_texts": 0}, "batching": {"max_wait": 3}}))
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    model = str(serve_models["intents"])
    cases = {
        "missing model": (["serve", "/nonexistent/model"], r"model directory /nonexistent/model does not exist"),
        "config problems": (["serve", model, "--config", str(tmp_path / "bad.yaml")],
                            r"bad\.yaml: 2 problems:\n  batching\.max_wait: unknown key; did you mean 'max_wait_ms'\?\n"
                            r"  limits\.max_texts: Input should be greater than or equal to 1 \(got 0\)$"),
        "port taken": (["serve", model, "--port", str(busy.getsockname()[1])], r"cannot listen on 127\.0\.0\.1:\d+"),
    }
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}

    def run(args):
        return subprocess.run([sys.executable, "-m", "whet", *args], capture_output=True, text=True, env=env, timeout=120)

    with ThreadPoolExecutor(3) as pool:
        results = dict(zip(cases, pool.map(run, [args for args, _ in cases.values()])))
    busy.close()
    for name, (_, pattern) in cases.items():
        result = results[name]
        assert result.returncode == 2, (name, result.stderr)
        # One line, or for several config problems a heading and one problem per line.
        assert result.stderr.startswith("error: ") and re.search(pattern, result.stderr.strip()), (name, result.stderr)
        assert result.stderr.count("\n") == (3 if name == "config problems" else 1), (name, result.stderr)


def test_example_serve_config_validates():
    from tests.conftest import ROOT
    from whet.serve.settings import load_serve_config

    path = ROOT / "configs" / "serve" / "demo-serve.yaml"
    assert "whet serve --config configs/serve/demo-serve.yaml" in path.read_text().splitlines()[0]
    config = load_serve_config(path)
    assert config.host == "127.0.0.1" and config.batching.enabled
    json.dumps(config.model_dump())
