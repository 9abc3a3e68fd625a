"""The monitor's configuration: one YAML file, validated like a run config; paths relative to it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from whet.config import Section, apply_overrides, check_problems, read_yaml, validation_problems

DURATION = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: str) -> int:
    """``30m``, ``1h``, ``1d`` -> seconds."""
    match = DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration; write a number and a unit: 30m, 1h, 1d, 1w")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


class SentimentSettings(Section):
    model: str = Field(..., description="A whet sequence classifier of sentiment (saved by whet train).")
    negative_label: str = Field("negative", description="The model's label of negative texts.")
    positive_label: str = Field("positive", description="The model's label of positive texts.")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="Precision the model predicts in.")


class EntitySettings(Section):
    model: str = Field(..., description="A whet NER model; its entities of `types` are tracked by their text.")
    types: list[str] = Field(default_factory=lambda: ["ORG"], description="Entity types tracked.")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="Precision the model predicts in.")


class IngestSettings(Section):
    batch_size: int = Field(512, ge=1, le=4096, description="Documents scored (length-sorted into the model's batches) and committed together; a POST is one batch or more.")
    missing_timestamp: Literal["reject", "now"] = Field("reject", description="A document without a timestamp is rejected with the reason, or stamped with the time it arrives (now).")
    max_chars: int = Field(20_000, ge=1, description="Longest text accepted; longer documents are rejected (the model reads a long text in windows, as whet predict does).")


class AlertRule(Section):
    name: str = Field(..., description="The rule's name, in alerts and their deduplication.")
    entities: list[str] = Field(default_factory=lambda: ["*"], description="Entities and topics watched (names as in the watchlist, 'overall', or '*' for all).")
    window: str = Field("1h", description="Window size the rule watches (one of `windows`).")
    metric: Literal["negative_share", "volume"] = Field("negative_share", description="What changes: the share of negative documents, or the number of documents.")
    detector: Literal["ratio", "page_hinkley"] = Field("ratio", description="ratio: the window against the mean of the baseline windows (with a significance test for shares); page_hinkley: river's Page-Hinkley test over the windows' series.")
    threshold: float = Field(2.0, gt=0, description="ratio: how many times the baseline the window must reach; page_hinkley: the test's threshold (lambda).")
    min_z: float = Field(2.0, ge=0, description="ratio on negative_share: least z score of the two-proportion test against the baseline.")
    baseline_windows: int = Field(24, ge=2, description="Windows before the current one that make its baseline.")
    min_volume: int = Field(5, ge=1, description="Least documents in the window (and in the baseline) for the rule to judge it.")
    cooldown_windows: int = Field(3, ge=0, description="Windows after an alert in which the same rule stays quiet for the same entity.")

    @field_validator("window")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_seconds(value)
        return value


class AlertSettings(Section):
    rules: list[AlertRule] = Field(default_factory=list, description="Alert rules.")
    log: bool = Field(True, description="Write each alert to the log.")
    jsonl: str | None = Field(None, description="File each alert is appended to, one JSON object a line.")
    webhook: str | None = Field(None, description="URL each alert is POSTed to (retried with backoff; kept in the alerts table until delivered).")
    max_attempts: int = Field(10, ge=1, description="Webhook deliveries tried per alert.")
    backoff_seconds: float = Field(2.0, gt=0, description="Wait before the second delivery; doubling each time.")
    timeout_seconds: float = Field(10.0, gt=0, description="Longest one webhook delivery may take.")
    evidence_documents: int = Field(5, ge=0, le=100, description="The most negative documents of the window carried by an alert.")


class MonitorConfig(Section):
    sentiment: SentimentSettings = Field(..., description="The sentiment model.")
    entities: EntitySettings | None = Field(None, description="Optional NER model whose entities are tracked too.")
    watchlist: str | None = Field(None, description="Watchlist YAML: companies (names, aliases, tickers) and topics (keywords) matched in text.")
    database: str = Field("monitor.db", description="SQLite file (created), or an SQLAlchemy URL such as postgresql+psycopg://user@host/db (pip install \"whet[postgres]\").")
    windows: list[str] = Field(default_factory=lambda: ["1h", "1d"], min_length=1, description="Tumbling window sizes (30m, 1h, 1d, 1w).")
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Reading and scoring documents.")
    alerts: AlertSettings = Field(default_factory=AlertSettings, description="Alert rules and where alerts go.")

    @field_validator("windows")
    @classmethod
    def _durations(cls, values: list[str]) -> list[str]:
        for value in values:
            duration_seconds(value)
        return values

    @model_validator(mode="after")
    def _rules_use_windows(self) -> MonitorConfig:
        sizes = {duration_seconds(w) for w in self.windows}
        for rule in self.alerts.rules:
            if duration_seconds(rule.window) not in sizes:
                raise ValueError(f"alert rule {rule.name!r} watches {rule.window} windows; add {rule.window} to windows")
        names = [rule.name for rule in self.alerts.rules]
        if len(set(names)) != len(names):
            raise ValueError("alert rule names must be unique")
        return self


def load_monitor_config(path: Path, overrides: list[str] | None = None) -> MonitorConfig:
    raw = apply_overrides(read_yaml(path), overrides or [])
    check_problems(path, validation_problems(raw, MonitorConfig))
    config = MonitorConfig.model_validate(raw)
    base = path.parent

    def local(value: str) -> str:
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (base / p).resolve())

    config.sentiment.model = local(config.sentiment.model)
    if config.entities is not None:
        config.entities.model = local(config.entities.model)
    if config.watchlist is not None:
        config.watchlist = local(config.watchlist)
    if "://" not in config.database:
        config.database = local(config.database)
    if config.alerts.jsonl is not None:
        config.alerts.jsonl = local(config.alerts.jsonl)
    return config
