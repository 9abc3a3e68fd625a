"""Full fine-tuning: every parameter trains."""

from __future__ import annotations

from typing import Any


def apply(model: Any, settings: Any, peft_task_type: str) -> Any:
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model
