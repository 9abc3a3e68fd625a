"""``whet validate`` for a monitor config: every problem in it and the files it names, found
without loading a model (the models' labels come from their ``whet.json``)."""

from __future__ import annotations

from pathlib import Path

from whet.config import apply_overrides, read_yaml, validation_problems
from whet.errors import WhetError
from whet.monitor.settings import MonitorConfig, load_monitor_config


def monitor_problems(path: str | Path, overrides: list[str] | None = None) -> list[str]:
    from whet.models.saved_model import task_labels

    path = Path(path)
    try:
        raw = apply_overrides(read_yaml(path), overrides or [])
    except WhetError as err:
        return [str(err)]
    problems = validation_problems(raw, MonitorConfig)
    if problems:
        return problems
    config = load_monitor_config(path, overrides)
    labels, found = task_labels(config.sentiment.model, "sequence-classification", "sentiment.model")
    problems += found
    if labels is not None and any(label not in labels for label in (config.sentiment.negative_label,
                                                                     config.sentiment.positive_label)):
        problems.append(f"sentiment: the model's labels are {', '.join(labels)}; set sentiment.negative_label "
                        f"and sentiment.positive_label to two of them")
    if config.entities is not None:
        tags, found = task_labels(config.entities.model, "token-classification", "entities.model")
        problems += found
        types = {tag.split("-", 1)[-1] for tag in tags or () if tag != "O"}
        missing = [t for t in config.entities.types if t not in types]
        if tags is not None and missing:
            problems.append(f"entities.types: the NER model finds no {', '.join(missing)} entities "
                            f"(it finds {', '.join(sorted(types))})")
    if config.watchlist is not None:
        from whet.monitor.watchlist import read_watchlist

        try:
            read_watchlist(config.watchlist)
        except WhetError as err:
            problems.append(f"watchlist: {err}")
    return problems
