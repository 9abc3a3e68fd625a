"""AdaLoRA (Zhang et al., 2023) through peft: LoRA whose rank budget moves to the weight
matrices that matter, by pruning the singular values of an SVD-shaped update.

The schedule is given as shares of the planned optimizer steps: ``tinit`` trains at
``init_r``, then every ``delta_t`` steps ranks are reallocated towards an average of
``target_r``, and the last ``tfinal`` share trains with the final ranks fixed. peft needs
``update_and_allocate(step)`` after every backward pass, before gradients are cleared:
that is this method's step callback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field, model_validator

from whet.errors import ConfigError
from whet.methods.base import EVERY_TASK, Method, MethodSettings
from whet.methods.trainable import new_head_names, peft_default_targets, peft_task, wrap_with_peft


class AdaLoraSettings(MethodSettings):
    init_r: int = Field(12, ge=1, le=1024, description="Rank every adapted matrix starts with.")
    target_r: int = Field(8, ge=1, le=1024, description="Average rank left once the budget is allocated.")
    alpha: float = Field(16.0, gt=0, description="Scaling numerator, as for LoRA.")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout on the adapter input.")
    target_modules: list[str] | None = Field(None, description="Module names to adapt; default: peft's choice.")
    tinit: float = Field(0.1, ge=0, lt=1, description="Share of the planned optimizer steps trained at init_r before ranks are pruned.")
    tfinal: float = Field(0.2, ge=0, lt=1, description="Share of the planned steps trained at the final ranks after pruning.")
    delta_t: int = Field(10, ge=1, description="Optimizer steps between two rank reallocations.")
    orth_reg_weight: float = Field(0.5, ge=0, description="Weight of the orthogonality regulariser on the singular vectors.")

    @model_validator(mode="after")
    def _schedule(self) -> AdaLoraSettings:
        if self.tinit + self.tfinal >= 1:
            raise ValueError(f"tinit + tfinal must be below 1 to leave steps for rank allocation "
                             f"(got {self.tinit} + {self.tfinal})")
        if self.target_r > self.init_r:
            raise ValueError(f"target_r ({self.target_r}) must not exceed init_r ({self.init_r})")
        return self


def apply(model: Any, settings: AdaLoraSettings, peft_task_type: str | None, *,
          total_steps: int | None = None) -> Any:
    from peft import AdaLoraConfig

    if not total_steps:
        raise ConfigError("adalora needs the number of optimizer steps; set training.epochs or training.max_steps")
    targets = settings.target_modules or peft_default_targets(
        model, "TRANSFORMERS_MODELS_TO_ADALORA_TARGET_MODULES_MAPPING", "method.adalora.target_modules")
    config = AdaLoraConfig(task_type=peft_task(peft_task_type), init_r=settings.init_r, target_r=settings.target_r,
                           lora_alpha=settings.alpha, lora_dropout=settings.dropout, target_modules=targets,
                           tinit=int(settings.tinit * total_steps), tfinal=int(settings.tfinal * total_steps),
                           deltaT=settings.delta_t, orth_reg_weight=settings.orth_reg_weight, total_step=total_steps,
                           modules_to_save=new_head_names(model, peft_task_type) or None)
    return wrap_with_peft(model, config, f"method.adalora.target_modules {targets}")


def step_callback(model: Any) -> Callable[[int], None]:
    tuner = model.base_model  # peft's AdaLoraModel
    adapter = tuner.trainable_adapter_name
    config = tuner.peft_config[adapter]

    def allocate(step: int) -> None:
        if config.rank_pattern is None and step > config.total_step - config.tfinal:
            # A run resumed in the final phase: peft keeps the rank pattern only in memory, but the
            # checkpoint kept exactly the pruned singular values at zero, so the pattern is read off them.
            config.rank_pattern = {name: (p != 0).view(-1).tolist() for name, p in tuner.model.named_parameters()
                                   if f"lora_E.{adapter}" in name}
        tuner.update_and_allocate(step)

    return allocate


def finish(model: Any) -> None:
    """Apply the last rank pattern to the kept weights: the best checkpoint may predate it, and
    saving prunes every rank outside it, so evaluating unpruned weights would not match the file."""
    config = model.peft_config[model.active_adapter]
    if config.rank_pattern:
        model.base_model.rankallocator.mask_using_rank_pattern(model.base_model.model, config.rank_pattern)


METHOD = Method(name="adalora", apply=apply, tasks=EVERY_TASK, section="adalora", settings=AdaLoraSettings,
                merges=True, step_callback=step_callback, finish=finish,
                summary="SVD-shaped low-rank updates whose ranks are pruned to a budget, and the task head")
