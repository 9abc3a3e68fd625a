"""Building a running monitor from its config: ``whet monitor ingest`` and ``alerts``."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from whet.monitor.alerts import alert_payload
from whet.monitor.pipeline import IngestStats, Monitor, ingest_files, load_scorers, stdin_records
from whet.monitor.settings import MonitorConfig
from whet.monitor.store import MonitorStore

log = logging.getLogger("whet.monitor")


@contextlib.contextmanager
def running_monitor(config: MonitorConfig) -> Iterator[Monitor]:
    """A monitor with its database open (first: a locked or read-only file is reported before the models load)."""
    store = MonitorStore(config.database)
    try:
        yield Monitor(config, store, load_scorers(config))
    finally:
        store.close()


def deliver_alerts(monitor: Monitor) -> None:
    """POST the alerts due to the webhook once each (the rest wait in the alerts table for the next run)."""
    from whet.io.webhook import WebhookDelivery

    alerts = monitor.config.alerts
    if alerts.webhook is None:
        return
    WebhookDelivery(monitor.store, alerts.webhook, alert_payload, what="alert", kept_in="the alerts table",
                    max_attempts=alerts.max_attempts, backoff_s=alerts.backoff_seconds,
                    timeout_s=alerts.timeout_seconds).deliver_due()


def ingest(monitor: Monitor, paths: list[Path], *, stdin: bool = False, follow_s: float | None = None) -> IngestStats:
    """Ingest files (and stdin); with ``follow_s``, keep polling the files for new lines until interrupted."""
    total = IngestStats()
    while True:
        stats = ingest_files(monitor, paths) if paths else IngestStats()
        if stdin:
            stats.add(monitor.ingest(stdin_records()))
        deliver_alerts(monitor)
        total.add(stats)
        if stats.read:
            log.info("%d read, %d stored, %d duplicates, %d rejected, %d alerts", stats.read, stats.stored,
                     stats.duplicates, stats.rejected, len(stats.alerts))
        if follow_s is None:
            return total
        time.sleep(follow_s)


def serve(config: MonitorConfig, *, host: str = "127.0.0.1", port: int = 8000, api_keys: str | None = None) -> None:
    """The dashboard (``/monitor``) and the JSON API, with ``POST /v1/monitor/documents``, until SIGINT/SIGTERM."""
    import os
    import threading

    import uvicorn

    from whet.io.webhook import WebhookDelivery
    from whet.monitor.routes import router
    from whet.serve.access_log import setup_json_logging
    from whet.serve.app import create_app
    from whet.serve.auth import load_keys
    from whet.serve.run import check_port_free
    from whet.serve.settings import ServeConfig

    serve_config = ServeConfig(host=host, port=port)
    serve_config.auth.api_keys_file = api_keys
    keys = load_keys(api_keys, None)
    check_port_free(host, port)
    setup_json_logging("info")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with running_monitor(config) as monitor:
        delivery = None
        alerts = config.alerts
        if alerts.webhook is not None:
            delivery = WebhookDelivery(monitor.store, alerts.webhook, alert_payload, what="alert",
                                       kept_in="the alerts table", max_attempts=alerts.max_attempts,
                                       backoff_s=alerts.backoff_seconds, timeout_s=alerts.timeout_seconds).start()
        app = create_app(serve_config, keys, routers=(router,), title="whet monitor")
        app.state.monitor = monitor
        app.state.monitor_lock = threading.Lock()
        app.state.monitor_delivery = delivery
        log.info("monitor ready: dashboard at http://%s:%d/monitor", host, port)
        try:
            uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                          server_header=False)).run()
        finally:
            if delivery is not None:
                delivery.stop()
