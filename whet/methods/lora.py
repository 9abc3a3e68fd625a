"""LoRA (Hu et al., 2021) through peft: low-rank updates on chosen linear layers, head trained whole.

Its variants are options, as in peft: DoRA (Liu et al., 2024, ``use_dora``) splits each
weight into magnitude and direction and applies LoRA to the direction; rsLoRA (Kalajdzievski,
2023, ``use_rslora``) scales by alpha / sqrt(r). Both merge into the base weights like LoRA.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from whet.methods.base import EVERY_TASK, Method, MethodSettings
from whet.methods.trainable import new_head_names, peft_default_targets, peft_task, wrap_with_peft


class LoraSettings(MethodSettings):
    r: int = Field(8, ge=1, le=1024, description="LoRA rank.")
    alpha: float = Field(16.0, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[str] | None = Field(
        None, description="Module names to adapt; default: peft's choice for the architecture (query/value for BERT)."
    )
    use_dora: bool = Field(False, description="DoRA: learn each weight's magnitude apart from its LoRA direction update.")
    use_rslora: bool = Field(False, description="rsLoRA: scale by alpha / sqrt(r) instead of alpha / r (stable at high rank).")


def apply(model: Any, settings: LoraSettings, peft_task_type: str | None, *, total_steps: int | None = None) -> Any:
    from peft import LoraConfig

    targets = settings.target_modules or peft_default_targets(
        model, "TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING", "method.lora.target_modules")
    config = LoraConfig(task_type=peft_task(peft_task_type), r=settings.r, lora_alpha=settings.alpha,
                        lora_dropout=settings.dropout, target_modules=targets, use_dora=settings.use_dora,
                        use_rslora=settings.use_rslora, modules_to_save=new_head_names(model, peft_task_type) or None)
    return wrap_with_peft(model, config, f"method.lora.target_modules {targets}")


METHOD = Method(name="lora", apply=apply, tasks=EVERY_TASK, section="lora", settings=LoraSettings, merges=True,
                summary="low-rank updates of chosen weight matrices (DoRA and rsLoRA as options) and the task head")
