"""Frozen encoder: only the new task head trains (a linear probe on the pretrained features)."""

from __future__ import annotations

from typing import Any

from whet.methods.common import freeze_all_but, head_module_names, is_head_parameter


def apply(model: Any, settings: Any, peft_task_type: str) -> Any:
    heads = head_module_names(model)
    return freeze_all_but(model, lambda name: is_head_parameter(name, heads))
