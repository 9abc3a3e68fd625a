"""Bottleneck adapters (Houlsby et al., 2019): a small down-projection, nonlinearity and
up-projection added, with a residual connection, after the attention output and the
feed-forward output of every layer. The pretrained weights stay frozen; the adapters and
the task head train.

peft has no bottleneck adapters, and the AdapterHub ``adapters`` library requires
transformers 4.x, so they are a few lines here: each adapter is a child module of the
projection it follows (named ``bottleneck_adapter``, so the pretrained parameter names do not
change) and a forward hook adds its output. A model saves only the adapters and the head:
``bottleneck_config.json`` and ``bottleneck_model.safetensors`` beside the base config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from whet.errors import ConfigError, ModelError
from whet.methods.base import EVERY_TASK, Method, MethodSettings
from whet.methods.trainable import freeze_all_but, is_head_parameter, new_head_names


class BottleneckSettings(MethodSettings):
    size: int = Field(64, ge=1, le=8192, description="Bottleneck width: down-projection size of each adapter.")
    activation: Literal["gelu", "relu", "tanh", "silu"] = Field("gelu", description="Nonlinearity between down- and up-projection.")
    target_modules: list[str] | None = Field(
        None, description="Output projections an adapter follows; default: per architecture (attention and FFN output)."
    )


CONFIG_FILE = "bottleneck_config.json"
WEIGHTS_FILE = "bottleneck_model.safetensors"
ADAPTER = "bottleneck_adapter"
INIT_STD = 1e-2  # Houlsby's near-identity initialisation: small weights, zero biases

# The attention and feed-forward output projections, per architecture.
_BERT_LIKE = ["attention.output.dense", "output.dense"]
DEFAULT_TARGETS = {
    **dict.fromkeys(["bert", "roberta", "xlm-roberta", "camembert", "electra", "deberta", "deberta-v2", "ernie"],
                    _BERT_LIKE),
    "distilbert": ["attention.out_lin", "ffn.lin2"],
    "gpt2": ["attn.c_proj", "mlp.c_proj"],
    "gpt_neox": ["attention.dense", "mlp.dense_4h_to_h"],
    **dict.fromkeys(["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2"], ["self_attn.o_proj", "mlp.down_proj"]),
}


def _add_adapter_output(module: Any, inputs: Any, output: Any) -> Any:
    # (batch, seq, hidden) -> the same, plus the adapter's residual update
    return output + getattr(module, ADAPTER)(output)


def _output_size(module: Any) -> int:
    size = getattr(module, "out_features", None) or getattr(module, "nf", None)  # nn.Linear or GPT-2's Conv1D
    if not size:
        raise ConfigError(f"cannot put a bottleneck adapter after a {type(module).__name__}; "
                          f"method.bottleneck.target_modules must name linear output projections")
    return int(size)


def _matching_modules(model: Any, targets: list[str]) -> list[str]:
    return [name for name, _ in model.named_modules()
            if any(name == t or name.endswith("." + t) for t in targets)]


def insert_adapters(model: Any, module_names: list[str], size: int, activation: str) -> None:
    """Add an adapter after each named module; near identity at first, so training starts from the pretrained model."""
    from torch import nn

    activations = {"gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh, "silu": nn.SiLU}
    for name in module_names:
        module = model.get_submodule(name)
        hidden = _output_size(module)
        adapter = nn.Sequential()
        adapter.add_module("down", nn.Linear(hidden, size))
        adapter.add_module("activation", activations[activation]())
        adapter.add_module("up", nn.Linear(size, hidden))
        for linear in (adapter.down, adapter.up):
            nn.init.trunc_normal_(linear.weight, std=INIT_STD, a=-2 * INIT_STD, b=2 * INIT_STD)
            nn.init.zeros_(linear.bias)
        weight = next(module.parameters())
        module.add_module(ADAPTER, adapter.to(device=weight.device, dtype=weight.dtype))
        module.register_forward_hook(_add_adapter_output)


def apply(model: Any, settings: BottleneckSettings, peft_task_type: str | None, *,
          total_steps: int | None = None) -> Any:
    targets = settings.target_modules or DEFAULT_TARGETS.get(model.config.model_type)
    if not targets:
        raise ConfigError(f"no default bottleneck adapter places for model type '{model.config.model_type}'; set "
                          f"method.bottleneck.target_modules to its attention and feed-forward output projections")
    modules = _matching_modules(model, targets)
    if not modules:
        raise ConfigError(f"method.bottleneck.target_modules {targets}: no module of this model matches")
    heads = new_head_names(model, peft_task_type)
    freeze_all_but(model, lambda name: False)
    insert_adapters(model, modules, settings.size, settings.activation)
    model.whet_bottleneck = {"size": settings.size, "activation": settings.activation, "modules": modules,
                             "heads": heads}
    return freeze_all_but(model, lambda name: f".{ADAPTER}." in name or is_head_parameter(name, heads))


def is_bottleneck_model(model: Any) -> bool:
    return hasattr(model, "whet_bottleneck")


def _saved_state(model: Any) -> dict:
    heads = model.whet_bottleneck["heads"]
    return {name: p.detach().cpu().contiguous() for name, p in model.named_parameters()
            if f".{ADAPTER}." in name or is_head_parameter(name, heads)}


def save(model: Any, directory: Path) -> None:
    """Write the adapters and the head (the base config is written by the caller)."""
    from safetensors.torch import save_file

    save_file(_saved_state(model), str(directory / WEIGHTS_FILE))
    (directory / CONFIG_FILE).write_text(json.dumps(model.whet_bottleneck, indent=2) + "\n", encoding="utf-8")


def is_saved_here(directory: Path) -> bool:
    return (directory / CONFIG_FILE).is_file()


def load(model: Any, directory: Path) -> Any:
    """Insert the saved adapters into a freshly loaded base model and restore their weights and the head."""
    from safetensors.torch import load_file

    config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    insert_adapters(model, config["modules"], config["size"], config["activation"])
    model.whet_bottleneck = config
    weights = load_file(str(directory / WEIGHTS_FILE))
    expected = set(_saved_state(model))
    if set(weights) != expected:
        missing = sorted(expected - set(weights)) or sorted(set(weights) - expected)
        raise ModelError(f"{directory / WEIGHTS_FILE} does not match its base model (e.g. {missing[0]}); "
                         f"was the base model changed?")
    model.load_state_dict(weights, strict=False)
    return model


METHOD = Method(name="bottleneck", apply=apply, tasks=EVERY_TASK, section="bottleneck", settings=BottleneckSettings,
                summary="bottleneck adapters after each attention and feed-forward output, and the task head")
