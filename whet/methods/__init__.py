"""Fine-tuning methods: each module configures which parameters train (through peft where
peft has the method) and exposes ``METHOD``, a :class:`whet.methods.base.Method`."""

from __future__ import annotations

from whet.registry import Registry

METHODS = Registry("method")
METHODS.register("full", "whet.methods.full:METHOD")
METHODS.register("frozen", "whet.methods.frozen:METHOD")
METHODS.register("bitfit", "whet.methods.bitfit:METHOD")
METHODS.register("lora", "whet.methods.lora:METHOD")
METHODS.register("adalora", "whet.methods.adalora:METHOD")
METHODS.register("ia3", "whet.methods.ia3:METHOD")
METHODS.register("prefix-tuning", "whet.methods.prefix_tuning:METHOD")
METHODS.register("prompt-tuning", "whet.methods.prompt_tuning:METHOD")
METHODS.register("p-tuning", "whet.methods.p_tuning:METHOD")
METHODS.register("bottleneck", "whet.methods.bottleneck:METHOD")
METHODS.register("fewshot", "whet.methods.fewshot:METHOD")
METHODS.register("pet", "whet.methods.pet:METHOD")


def methods_for(task: str) -> list[str]:
    """The method names that can train ``task``."""
    return [name for name in METHODS.names() if METHODS.get(name).supports(task)]


def method_problem(method: str, task: str, *, merge: bool = False, checkpointing: bool = False) -> str | None:
    """One line saying why ``method`` cannot be used for ``task`` (or with merging, or with
    gradient checkpointing), else None.

    Method modules hold no heavy imports at the top, so this runs at config validation time.
    """
    spec = METHODS.get(method)
    if not spec.supports(task):
        why = f" ({spec.why_not[task]})" if task in spec.why_not else ""
        return (f"method '{method}' cannot train task '{task}'{why}; for {task} choose one of: "
                f"{', '.join(methods_for(task))} (see docs/methods.md)")
    why = spec.unavailable(task) if spec.unavailable else None
    if why:
        return f"method '{method}' cannot train task '{task}' with the installed libraries: {why}"
    if merge and not spec.merges:
        mergeable = [name for name in METHODS.names() if METHODS.get(name).merges]
        return (f"output.merge: method '{method}' cannot be merged into the base weights; merging works for "
                f"{', '.join(mergeable)}; set output.merge to false")
    if checkpointing and spec.why_not_checkpointing:
        return (f"training.gradient_checkpointing: method '{method}' cannot train with it ({spec.why_not_checkpointing}); "
                f"set training.gradient_checkpointing to false or choose another method")
    return None
