"""Prompt tuning (Lester et al., 2021) through peft: trained embeddings of virtual tokens put
before the input; the model's weights stay frozen, the task head trains.

The virtual tokens become extra output positions, which peft does not line up with
per-token labels or answer positions, so only sequence classification and causal LMs
(where peft masks them out of the loss) are supported.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from whet.methods.base import CAUSAL_LM, Method, MethodSettings
from whet.methods.trainable import new_head_names, peft_task, wrap_with_peft


class PromptTuningSettings(MethodSettings):
    num_virtual_tokens: int = Field(20, ge=1, le=512, description="Trained soft-prompt embeddings put before the input.")
    init_text: str | None = Field(None, description="Start the prompt from this text's token embeddings; default: random.")


PROMPT_TASKS = frozenset({"sequence-classification", CAUSAL_LM})
PROMPT_WHY_NOT = {
    "token-classification": "its virtual tokens add output positions that peft does not align with the token labels",
    "question-answering": "its virtual tokens add output positions that peft does not shift the answer positions past",
    "multiple-choice": "peft runs prompt methods only for the task types it knows, and multiple choice is not one",
}


def apply(model: Any, settings: PromptTuningSettings, peft_task_type: str | None, *,
          total_steps: int | None = None) -> Any:
    from peft import PromptTuningConfig, PromptTuningInit

    from_text = settings.init_text is not None
    config = PromptTuningConfig(task_type=peft_task(peft_task_type), num_virtual_tokens=settings.num_virtual_tokens,
                                prompt_tuning_init=PromptTuningInit.TEXT if from_text else PromptTuningInit.RANDOM,
                                prompt_tuning_init_text=settings.init_text,
                                tokenizer_name_or_path=model.name_or_path if from_text else None,
                                modules_to_save=new_head_names(model, peft_task_type) or None)
    return wrap_with_peft(model, config, "method.prompt_tuning")


METHOD = Method(name="prompt-tuning", apply=apply, section="prompt_tuning", settings=PromptTuningSettings,
                tasks=PROMPT_TASKS, summary="soft-prompt embeddings before the input, and the task head",
                virtual_tokens=lambda settings: settings.num_virtual_tokens, why_not=PROMPT_WHY_NOT)
