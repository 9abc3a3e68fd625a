"""P-tuning (Liu et al., 2021) through peft's PromptEncoder: virtual token embeddings produced
by a small trained MLP or LSTM, put before the input; the task head trains.

Like prompt tuning, it adds output positions, so it supports the same tasks.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from whet.methods.base import Method, MethodSettings
from whet.methods.trainable import new_head_names, peft_task, wrap_with_peft
from whet.methods.prompt_tuning import PROMPT_TASKS, PROMPT_WHY_NOT


class PTuningSettings(MethodSettings):
    num_virtual_tokens: int = Field(20, ge=1, le=512, description="Virtual tokens put before the input.")
    encoder: Literal["mlp", "lstm"] = Field("mlp", description="Prompt encoder producing the virtual token embeddings.")
    encoder_hidden_size: int | None = Field(None, ge=1, description="Prompt encoder hidden size; default: the model's hidden size.")


def apply(model: Any, settings: PTuningSettings, peft_task_type: str | None, *,
          total_steps: int | None = None) -> Any:
    from peft import PromptEncoderConfig, PromptEncoderReparameterizationType

    config = PromptEncoderConfig(task_type=peft_task(peft_task_type), num_virtual_tokens=settings.num_virtual_tokens,
                                 encoder_reparameterization_type=PromptEncoderReparameterizationType[settings.encoder.upper()],
                                 encoder_hidden_size=settings.encoder_hidden_size or model.config.hidden_size,
                                 modules_to_save=new_head_names(model, peft_task_type) or None)
    return wrap_with_peft(model, config, "method.p_tuning")


METHOD = Method(name="p-tuning", apply=apply, section="p_tuning", settings=PTuningSettings, tasks=PROMPT_TASKS,
                summary="virtual token embeddings from a trained prompt encoder, and the task head",
                virtual_tokens=lambda settings: settings.num_virtual_tokens, why_not=PROMPT_WHY_NOT)
