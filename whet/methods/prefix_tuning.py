"""Prefix tuning (Li and Liang, 2021) through peft: trained key/value vectors prepended in
every attention layer; the model's weights stay frozen, the task head trains.

The prefix enters as cached keys and values, so outputs keep one position per input token:
token-level tasks and answer spans work. It shifts position ids by the prefix length, so
input windows shrink by ``num_virtual_tokens``.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from pydantic import Field

from whet.methods.base import CAUSAL_LM, Method, MethodSettings
from whet.methods.trainable import new_head_names, peft_task, wrap_with_peft


class PrefixTuningSettings(MethodSettings):
    num_virtual_tokens: int = Field(20, ge=1, le=512, description="Prefix length: trained key/value positions in every layer.")
    projection: bool = Field(False, description="Reparameterise the prefix through a two-layer MLP (more stable, more memory).")
    projection_hidden: int | None = Field(None, ge=1, description="Hidden size of that MLP; default: the model's hidden size.")


# transformers 5.24.0 renamed the encoders' ``past_key_values`` argument to ``cache``. peft (0.21.2
# and earlier) looks for ``past_key_values`` in the encoder's forward signature to pass the prefix
# in, and stops with "Model does not support past key values". Decoders still take the name.
ENCODERS_DROPPED_IN = (5, 24)


def encoder_prefixes_unavailable(task: str) -> str | None:
    """Why prefix tuning cannot train ``task`` with the installed transformers, or None."""
    from packaging.version import Version

    installed = version("transformers")
    if task == CAUSAL_LM or Version(installed).release[:2] < ENCODERS_DROPPED_IN:
        return None
    return (f"transformers 5.24.0 renamed the encoder argument through which peft passes the prefixes "
            f"(installed: {installed}); use method prompt-tuning or lora instead, or install 'transformers<5.24'")


def apply(model: Any, settings: PrefixTuningSettings, peft_task_type: str | None, *,
          total_steps: int | None = None) -> Any:
    from peft import PrefixTuningConfig

    config = PrefixTuningConfig(task_type=peft_task(peft_task_type), num_virtual_tokens=settings.num_virtual_tokens,
                                prefix_projection=settings.projection,
                                encoder_hidden_size=settings.projection_hidden or model.config.hidden_size,
                                modules_to_save=new_head_names(model, peft_task_type) or None)
    return wrap_with_peft(model, config, "method.prefix_tuning")


METHOD = Method(
    name="prefix-tuning", apply=apply, section="prefix_tuning", settings=PrefixTuningSettings,
    tasks=frozenset({"sequence-classification", "token-classification", "question-answering", CAUSAL_LM}),
    summary="key/value prefixes in every layer, and the task head",
    virtual_tokens=lambda settings: settings.num_virtual_tokens,
    unavailable=encoder_prefixes_unavailable,
    # A checkpointed layer runs without its key/value cache (its replay would append to it twice).
    why_not_checkpointing="checkpointed layers drop the key/value cache that carries the prefix",
    why_not={"multiple-choice": "peft runs prompt methods only for the task types it knows, and multiple choice "
                                "is not one"})
