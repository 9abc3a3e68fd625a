"""A tiny random sentiment classifier saved as a whet model, and a stream whose sixth hour
surges in volume (what the monitor's volume rule alerts for)."""

from __future__ import annotations

import json

import pytest

from tests.integration.serve.conftest import _info, _labels_kwargs, _tiny_config, _tokenizer

LABELS = ["negative", "neutral", "positive"]
START = 1_779_998_400  # on the hour: 2026-05-28T20:00:00Z


def surge_records() -> list[dict]:
    """Six documents an hour about Nokia for five hours, nine in the sixth, then one more."""
    times = [START + i * 600 for i in range(30)] + [START + 5 * 3600 + i * 150 for i in range(9)] + [START + 6 * 3600]
    return [{"id": f"d{i}", "timestamp": t, "source": "wire", "text": f"Nokia update number {i}"}
            for i, t in enumerate(times)]


def surge_lines() -> list[str]:
    return [json.dumps(record) for record in surge_records()]


@pytest.fixture(scope="session")
def sentiment_model(tmp_path_factory):
    import torch
    from transformers import BertForSequenceClassification

    from whet.models.saved_model import save_model

    path = tmp_path_factory.mktemp("monitor-model") / "sentiment"
    torch.manual_seed(1)
    tokenizer = _tokenizer()
    save_model(path, BertForSequenceClassification(_tiny_config(tokenizer, **_labels_kwargs(LABELS))),
               tokenizer, _info("sequence-classification", LABELS, "builtin:minilm"))
    return path


def monitor_config(model, **extra) -> dict:
    return {"sentiment": {"model": str(model)}, "watchlist": "watchlist.yaml", "database": "monitor.db",
            "windows": ["1h"], "alerts": {"rules": [{"name": "surge", "window": "1h", "metric": "volume",
                                                     "baseline_windows": 2, "min_volume": 1, "threshold": 1.4}]},
            **extra}

