"""Full fine-tuning: every parameter trains."""

from __future__ import annotations

from typing import Any

from whet.methods.base import Method


def apply(model: Any, settings: Any, peft_task_type: str | None, *, total_steps: int | None = None) -> Any:
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model


METHOD = Method(name="full", apply=apply, tasks=None, summary="every parameter")
