"""BitFit (Ben Zaken et al., 2022): only bias terms and the task head train.

peft has no BitFit method, and none is needed: it is a choice of which parameters keep
``requires_grad``, so the model stays a plain transformers model that saves as one.
"""

from __future__ import annotations

from typing import Any

from whet.methods.base import EVERY_TASK, Method
from whet.methods.trainable import freeze_all_but, is_head_parameter, new_head_names


def apply(model: Any, settings: Any, peft_task_type: str | None, *, total_steps: int | None = None) -> Any:
    heads = new_head_names(model, peft_task_type)
    return freeze_all_but(model, lambda name: name.endswith(".bias") or is_head_parameter(name, heads))


METHOD = Method(name="bitfit", apply=apply, tasks=EVERY_TASK, summary="bias terms and the task head")
