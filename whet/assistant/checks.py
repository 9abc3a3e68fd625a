"""``whet validate`` for an assistant config: every problem in it and the files it names, found
without loading a model (the models' labels come from their ``whet.json``)."""

from __future__ import annotations

from pathlib import Path

from whet.assistant.answers import parse_answers
from whet.assistant.settings import AssistantConfig, resolve_assistant_paths
from whet.config import apply_overrides, read_yaml, validation_problems
from whet.errors import WhetError


def assistant_problems(path: str | Path, overrides: list[str] | None = None) -> list[str]:
    """All problems, one line each: keys and values first, then the files against each other."""
    from whet.models.saved_model import task_labels

    path = Path(path)
    try:
        raw = apply_overrides(read_yaml(path), overrides or [])
    except WhetError as err:
        return [str(err)]
    problems = validation_problems(raw, AssistantConfig)
    if problems:
        return problems
    config = resolve_assistant_paths(AssistantConfig.model_validate(raw), path.parent)
    labels, label_problems = task_labels(config.intents.model, "sequence-classification", "intents.model")
    problems += label_problems
    entity_types = None
    if config.entities is not None:
        tags, entity_problems = task_labels(config.entities.model, "token-classification", "entities.model")
        problems += entity_problems
        entity_types = {tag.split("-", 1)[-1] for tag in tags if tag != "O"} if tags is not None else None
    try:
        answers, answer_problems = parse_answers(config.answers)
    except WhetError as err:
        return [*problems, f"answers: {err}"]
    problems += [f"answers: {p}" for p in answer_problems]
    if labels is not None:
        oos = _oos_labels(config.intents.model)
        missing = [label for label in labels if label not in answers.intents and label not in oos
                   and label not in answers.invalid]
        if missing:
            problems.append(f"answers: {config.answers} has no answer for the model's intents {', '.join(missing)}; "
                            f"add them (replies, or handoff: true)")
        unknown = [intent for intent in [*answers.intents, *answers.invalid] if intent not in labels]
        if unknown:
            problems.append(f"answers: {', '.join(unknown)} in {config.answers} are not intents of {config.intents.model} "
                            f"(its intents: {', '.join(labels)})")
    for intent, answer in answers.intents.items():
        for name, slot in answer.slots.items():
            if slot.entity is None:
                continue
            if config.entities is None:
                problems.append(f"answers: {intent}: slot {name} is filled from {slot.entity} entities, but the config "
                                f"names no entities model; add entities.model or give the slot a pattern or ask")
            elif entity_types is not None and slot.entity not in entity_types:
                problems.append(f"answers: {intent}: slot {name}: entities.model finds no {slot.entity} entities "
                                f"(it finds {', '.join(sorted(entity_types))})")
    if config.knowledge is not None:
        from whet.assistant.knowledge import read_passages

        try:
            read_passages(config.knowledge.files, config.knowledge.max_passage_words)
        except WhetError as err:
            problems.append(str(err) if str(err).startswith("knowledge") else f"knowledge.files: {err}")
    return problems


def _oos_labels(directory: str) -> set[str]:
    """The out-of-scope class of a model trained with one (its detector names it), which needs no answer."""
    import json

    from whet.models.out_of_scope import SETTINGS_FILE

    settings = Path(directory) / SETTINGS_FILE
    if not settings.is_file():
        return {"oos"}
    return {json.loads(settings.read_text(encoding="utf-8")).get("oos_label", "oos")}
