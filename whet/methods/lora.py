"""LoRA (Hu et al., 2021) through peft: low-rank updates on chosen linear layers, head trained whole."""

from __future__ import annotations

from typing import Any

from whet.config import LoraSettings
from whet.errors import ConfigError
from whet.methods.common import head_module_names


def default_target_modules(model: Any) -> list[str] | None:
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    targets = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(model.config.model_type)
    return list(targets) if targets else None


def apply(model: Any, settings: LoraSettings, peft_task_type: str) -> Any:
    from peft import LoraConfig, TaskType, get_peft_model

    targets = settings.target_modules or default_target_modules(model)
    if not targets:
        raise ConfigError(f"no default LoRA target modules for model type '{model.config.model_type}'; "
                          f"set method.lora.target_modules (e.g. [q_proj, v_proj])")
    config = LoraConfig(task_type=TaskType[peft_task_type], r=settings.r, lora_alpha=settings.alpha,
                        lora_dropout=settings.dropout, target_modules=targets,
                        modules_to_save=head_module_names(model))
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        raise ConfigError(f"method.lora.target_modules {targets}: {str(err).splitlines()[0]}") from None
