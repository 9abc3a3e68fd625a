"""Alert rules over closed windows: which windows each rule judges, the evidence an alert
carries, and where alerts go (the log, a JSON Lines file, a webhook).

A window is closed once a document later than its end has arrived (the stream's watermark);
each rule judges every closed window once, in order, and remembers how far it got, so a restart
or a replay neither repeats nor skips a window. A document arriving after its window was judged
still counts in the window's figures, but does not raise an alert for it. An alert is unique per
rule, key and window, and a rule stays quiet for ``cooldown_windows`` after alerting for a key.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timezone

from whet.monitor.detection import Window, detect
from whet.monitor.settings import AlertRule, MonitorConfig, duration_seconds
from whet.monitor.store import MonitorStore, first_seen
from whet.monitor.windows import window_figures

log = logging.getLogger("whet.monitor")


def rule_keys(rule: AlertRule, keys: list[str]) -> list[str]:
    """The keys (``entity:Name``, ``topic:name``, ``overall``) a rule watches."""
    if "*" in rule.entities:
        return keys
    wanted = set(rule.entities)
    return [key for key in keys if key in wanted or key.split(":", 1)[-1] in wanted]


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def evaluate_rules(store: MonitorStore, config: MonitorConfig, watermark: float) -> list[dict]:
    """Judge the windows closed by ``watermark`` that no rule has judged yet; store and return new alerts."""
    created = []
    for rule in config.alerts.rules:
        created += _evaluate_rule(store, config, rule, watermark)
    return created


def _evaluate_rule(store: MonitorStore, config: MonitorConfig, rule: AlertRule, watermark: float) -> list[dict]:
    size = duration_seconds(rule.window)
    closed_until = math.floor(watermark / size) * size  # the window holding the watermark is still open
    keys = rule_keys(rule, store.keys())
    if not keys:
        return []
    first = first_seen(store, keys)
    done = store.evaluated_until(rule.name)
    start = done if done is not None else math.floor(min(first.values()) / size) * size
    if start >= closed_until:
        return []
    history = start - rule.baseline_windows * size
    counts: dict[str, dict[float, Window]] = {}
    for row in store.window_counts(size, start=history, end=closed_until, keys=keys,
                                   negative_label=config.sentiment.negative_label,
                                   positive_label=config.sentiment.positive_label):
        counts.setdefault(row.key, {})[row.start] = Window(row.start, row.documents, row.negative)
    new_alerts = []
    for key in keys:
        windows = counts.get(key, {})
        last_alert = store.last_alert_window(rule.name, key)
        key_start = math.floor(first[key] / size) * size
        for current_start in sorted(w for w in windows if w >= start):
            current = windows[current_start]
            # Judged only with a full baseline of windows since the key was first seen.
            if current_start - rule.baseline_windows * size < key_start:
                continue
            if last_alert is not None and current_start - last_alert <= rule.cooldown_windows * size:
                continue
            baseline = [windows.get(current_start - i * size, Window(current_start - i * size, 0, 0))
                        for i in range(rule.baseline_windows, 0, -1)]
            verdict = detect(current, baseline, metric=rule.metric, detector=rule.detector,
                             threshold=rule.threshold, min_volume=rule.min_volume, min_z=rule.min_z)
            if not verdict.changed:
                continue
            last_alert = current_start
            new_alerts.append(_alert(store, config, rule, key, current, baseline, verdict, size))
    ids = store.record_evaluation(rule.name, closed_until, new_alerts, deliver=config.alerts.webhook is not None)
    return store.alerts(ids=ids) if ids else []


def _alert(store: MonitorStore, config: MonitorConfig, rule: AlertRule, key: str, current: Window,
           baseline: list[Window], verdict, size: int) -> dict:
    end = current.start + size
    base_docs = sum(w.documents for w in baseline)
    return {"key": key, "window_start": current.start, "window_end": end, "evidence": {
        "rule": rule.name, "key": key, "metric": rule.metric, "detector": rule.detector, "why": verdict.detail,
        "window": {"start": iso(current.start), "end": iso(end),
                   **window_figures(current.documents, current.negative, 0)},
        "baseline": {"windows": len(baseline), "documents": base_docs,
                     "negative_share": round(sum(w.negative for w in baseline) / base_docs, 4) if base_docs else None,
                     "volume_per_window": round(base_docs / len(baseline), 2)},
        "documents": [{**doc, "timestamp": iso(doc["timestamp"])} for doc in
                      store.most_negative(key, current.start, end, config.alerts.evidence_documents)],
    }}


def write_alerts(alerts: list[dict], config: MonitorConfig) -> None:
    """The log and JSON Lines sinks (webhooks are delivered by ``whet.io.webhook.WebhookDelivery``)."""
    for alert in alerts:
        evidence = alert["evidence"]
        if config.alerts.log:
            log.warning("alert %s: %s on %s in %s..%s: %s", alert["id"], evidence["rule"], alert["key"],
                        evidence["window"]["start"], evidence["window"]["end"], evidence["why"])
    if config.alerts.jsonl and alerts:
        with open(config.alerts.jsonl, "a", encoding="utf-8") as handle:
            for alert in alerts:
                handle.write(json.dumps(alert_payload(alert), ensure_ascii=False) + "\n")
            handle.flush()


def alert_payload(alert: dict) -> dict:
    return {"alert": alert["id"], "rule": alert["rule"], "key": alert["key"], "window_start": iso(alert["window_start"]),
            "window_end": iso(alert["window_end"]), "evidence": alert["evidence"]}
