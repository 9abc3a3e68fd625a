"""Prometheus metrics, in a registry of the app's own (several apps can live in one process)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    errors: Counter
    latency: Histogram
    batch_size: Histogram
    batch_seconds: Histogram
    queue_depth: Gauge
    model_requests: Counter
    model_texts: Counter
    model_errors: Counter
    models_ready: Gauge


def create_metrics() -> Metrics:
    registry = CollectorRegistry()
    return Metrics(
        registry=registry,
        requests=Counter("whet_requests_total", "HTTP requests by route, method and status code.",
                         ["route", "method", "status"], registry=registry),
        errors=Counter("whet_request_errors_total", "HTTP requests answered with an error, by route and status.",
                       ["route", "status"], registry=registry),
        latency=Histogram("whet_request_duration_seconds", "Time from request to response, by route.",
                          ["route"], buckets=LATENCY_BUCKETS, registry=registry),
        batch_size=Histogram("whet_batch_size", "Texts per batch (one predict call), by batch queue.",
                             ["lane"], buckets=BATCH_BUCKETS, registry=registry),
        batch_seconds=Histogram("whet_batch_duration_seconds", "Time one batch takes to predict, by batch queue.",
                                ["lane"], buckets=LATENCY_BUCKETS, registry=registry),
        queue_depth=Gauge("whet_queue_depth", "Requests waiting for a batch, by batch queue.",
                          ["lane"], registry=registry),
        model_requests=Counter("whet_model_requests_total", "Prediction requests by model.",
                               ["model"], registry=registry),
        model_texts=Counter("whet_model_texts_total", "Texts predicted by model.", ["model"], registry=registry),
        model_errors=Counter("whet_model_errors_total", "Prediction requests that failed, by model and reason.",
                             ["model", "reason"], registry=registry),
        models_ready=Gauge("whet_models_ready", "Models loaded and ready to predict.", registry=registry),
    )
