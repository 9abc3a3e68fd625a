"""Frozen encoder: only the new task head trains (a linear probe on the pretrained features)."""

from __future__ import annotations

from typing import Any

from whet.methods.base import HEAD_TASKS, Method
from whet.methods.trainable import freeze_all_but, is_head_parameter, new_head_names


def apply(model: Any, settings: Any, peft_task_type: str | None, *, total_steps: int | None = None) -> Any:
    heads = new_head_names(model, peft_task_type)
    return freeze_all_but(model, lambda name: is_head_parameter(name, heads))


METHOD = Method(name="frozen", apply=apply, tasks=HEAD_TASKS, summary="the task head only",
                why_not={"causal-lm": "it trains only a new task head, and a causal LM has none"})
