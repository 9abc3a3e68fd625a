"""``whet validate`` for a monitor config: every problem in it and the files it names, found
without loading a model (the models' labels come from their ``whet.json``)."""

from __future__ import annotations

from pathlib import Path

from whet.config import apply_overrides, read_yaml, validation_problems
from whet.errors import WhetError
from whet.monitor.settings import MonitorConfig, load_monitor_config


def monitor_problems(path: str | Path, overrides: list[str] | None = None) -> list[str]:
    from whet.models.saved_model import read_info

    path = Path(path)
    try:
        raw = apply_overrides(read_yaml(path), overrides or [])
    except WhetError as err:
        return [str(err)]
    problems = validation_problems(raw, MonitorConfig)
    if problems:
        return problems
    config = load_monitor_config(path, overrides)
    try:
        info = read_info(Path(config.sentiment.model))
        wanted = [config.sentiment.negative_label, config.sentiment.positive_label]
        if info.task != "sequence-classification":
            problems.append(f"sentiment.model: {config.sentiment.model} is a {info.task} model; give a sentiment classifier")
        elif any(label not in info.labels for label in wanted):
            problems.append(f"sentiment: the model's labels are {', '.join(info.labels)}; set sentiment.negative_label "
                            f"and sentiment.positive_label to two of them")
    except WhetError as err:
        problems.append(f"sentiment.model: {err}")
    if config.entities is not None:
        try:
            info = read_info(Path(config.entities.model))
            types = {tag.split("-", 1)[-1] for tag in info.labels if tag != "O"}
            missing = [t for t in config.entities.types if t not in types]
            if info.task != "token-classification":
                problems.append(f"entities.model: {config.entities.model} is a {info.task} model; give an NER model")
            elif missing:
                problems.append(f"entities.types: the NER model finds no {', '.join(missing)} entities "
                                f"(it finds {', '.join(sorted(types))})")
        except WhetError as err:
            problems.append(f"entities.model: {err}")
    if config.watchlist is not None:
        from whet.monitor.watchlist import read_watchlist

        try:
            read_watchlist(config.watchlist)
        except WhetError as err:
            problems.append(f"watchlist: {err}")
    return problems
