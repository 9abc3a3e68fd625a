"""IA3 (Liu et al., 2022) through peft: learned vectors rescale the keys, values and
feed-forward activations; the fewest trainable parameters of the adapter methods."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from whet.methods.base import EVERY_TASK, Method, MethodSettings
from whet.methods.trainable import new_head_names, peft_default_targets, peft_task, wrap_with_peft


class IA3Settings(MethodSettings):
    target_modules: list[str] | None = Field(None, description="Modules whose outputs are rescaled; default: peft's choice (key, value, FFN output).")
    feedforward_modules: list[str] | None = Field(
        None, description="Which of target_modules are feed-forward (rescaled on their input); default: peft's choice."
    )


def apply(model: Any, settings: IA3Settings, peft_task_type: str | None, *, total_steps: int | None = None) -> Any:
    from peft import IA3Config

    targets = settings.target_modules or peft_default_targets(
        model, "TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING", "method.ia3.target_modules")
    feedforward = settings.feedforward_modules
    if feedforward is None:
        # peft's feed-forward defaults only fit its default targets; with the user's targets none is feed-forward.
        feedforward = [] if settings.target_modules else peft_default_targets(
            model, "TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING", "method.ia3.feedforward_modules")
    config = IA3Config(task_type=peft_task(peft_task_type), target_modules=targets, feedforward_modules=feedforward,
                       modules_to_save=new_head_names(model, peft_task_type) or None)
    return wrap_with_peft(model, config, f"method.ia3.target_modules {targets}")


METHOD = Method(name="ia3", apply=apply, tasks=EVERY_TASK, section="ia3", settings=IA3Settings, merges=True,
                summary="scaling vectors on keys, values and feed-forward activations, and the task head")
