"""``whet validate``: every problem in a config and its data files, found without loading a model."""

from __future__ import annotations

from pathlib import Path

from whet.config import RunConfig, resolve_paths, apply_overrides, read_yaml, validation_problems
from whet.errors import WhetError


def config_problems(path: str | Path, overrides: list[str] | None = None) -> list[str]:
    """All problems, one line each: config keys and values first, then the data files."""
    path = Path(path)
    try:
        raw = apply_overrides(read_yaml(path), overrides or [])
    except WhetError as err:
        return [str(err)]
    problems = validation_problems(raw)
    if problems:
        return problems
    config = resolve_paths(RunConfig.model_validate(raw), path.parent)
    return data_problems(config)


def data_problems(config: RunConfig) -> list[str]:
    from whet.tasks import TASKS

    task = TASKS.get(config.task)
    problems = []
    if config.data.train is None:
        problems.append("data.train: required field is missing; give the training file")
    for split in ("train", "dev", "test"):
        file = getattr(config.data, split)
        if file is None:
            continue
        try:
            examples = task.read(file, config.data)  # the readers check each record, NER tags included
            if not examples:
                problems.append(f"data.{split}: {file} holds no examples")
            elif split == "train" and config.method.name == "fewshot" and config.method.fewshot.shots:
                from whet.setfit.shots import sample_per_class

                sample_per_class(examples, config.method.fewshot.shots, config.training.seed, source=file,
                                 setting="method.fewshot.shots")
        except WhetError as err:
            problems.append(f"data.{split}: {err}")
    return problems
