"""Prefix tuning (Li and Liang, 2021) through peft: trained key/value vectors prepended in
every attention layer; the model's weights stay frozen, the task head trains.

The prefix enters as cached keys and values, so outputs keep one position per input token:
token-level tasks and answer spans work. It shifts position ids by the prefix length, so
input windows shrink by ``num_virtual_tokens``.
"""

from __future__ import annotations

from typing import Any

from whet.config import PrefixTuningSettings
from whet.methods.base import CAUSAL_LM, Method
from whet.methods.common import new_head_names, peft_task, wrap_with_peft


def apply(model: Any, settings: PrefixTuningSettings, peft_task_type: str | None, *,
          total_steps: int | None = None) -> Any:
    from peft import PrefixTuningConfig

    config = PrefixTuningConfig(task_type=peft_task(peft_task_type), num_virtual_tokens=settings.num_virtual_tokens,
                                prefix_projection=settings.projection,
                                encoder_hidden_size=settings.projection_hidden or model.config.hidden_size,
                                modules_to_save=new_head_names(model, peft_task_type) or None)
    return wrap_with_peft(model, config, "method.prefix_tuning")


METHOD = Method(
    name="prefix-tuning", apply=apply, section="prefix_tuning",
    tasks=frozenset({"sequence-classification", "token-classification", "question-answering", CAUSAL_LM}),
    summary="key/value prefixes in every layer, and the task head",
    virtual_tokens=lambda settings: settings.num_virtual_tokens,
    why_not={"multiple-choice": "peft runs prompt methods only for the task types it knows, and multiple choice "
                                "is not one"})
