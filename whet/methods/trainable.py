"""What the methods share: finding the task head, freezing, counting trainable parameters, wrapping with peft."""

from __future__ import annotations

from typing import Any

from whet.errors import ConfigError


def head_module_names(model: Any) -> list[str]:
    """Top-level modules with weights outside the pretrained body: the task head (e.g. 'classifier').

    A language model's output layer (``lm_head``) is pretrained, often tied to the input
    embeddings, so it is part of the body, not a new head.
    """
    prefix = getattr(model, "base_model_prefix", "")
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return [name for name, module in model.named_children()
            if name != prefix and module is not output and any(True for _ in module.parameters())]


def new_head_names(model: Any, peft_task_type: str | None) -> list[str]:
    """The heads a method trains beside its own parameters: a new task head, but never a causal
    LM's output layer, which is pretrained and usually tied to the input embeddings."""
    return [] if peft_task_type == "CAUSAL_LM" else head_module_names(model)


def peft_task(peft_task_type: str | None) -> Any:
    """peft's TaskType for a task's name of it; None for tasks peft has no type for (multiple choice)."""
    from peft import TaskType

    return TaskType[peft_task_type] if peft_task_type else None


def freeze_all_but(model: Any, trainable: Any) -> Any:
    """Set ``requires_grad`` from ``trainable(name) -> bool`` for every parameter."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(bool(trainable(name)))
    return model


def is_head_parameter(name: str, heads: list[str]) -> bool:
    return name.split(".", 1)[0] in heads


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = trainable = 0
    for parameter in model.parameters():
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return trainable, total


def peft_default_targets(model: Any, mapping_name: str, field: str) -> list[str]:
    """peft's default target modules for this architecture (``mapping_name`` in peft.utils.constants),
    or a ConfigError telling the user to name them in ``field``."""
    from peft.utils import constants

    targets = getattr(constants, mapping_name).get(model.config.model_type)
    if not targets:
        raise ConfigError(f"no default target modules for model type '{model.config.model_type}'; "
                          f"set {field} (e.g. [q_proj, v_proj])")
    return list(targets)


def wrap_with_peft(model: Any, peft_config: Any, field: str) -> Any:
    """``get_peft_model`` with peft's complaint about the targets turned into a one-line config error."""
    from peft import get_peft_model

    try:
        return get_peft_model(model, peft_config)
    except ValueError as err:
        raise ConfigError(f"{field}: {str(err).splitlines()[0]}") from None
