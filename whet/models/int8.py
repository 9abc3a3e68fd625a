"""Dynamic int8 quantization for CPU inference.

Every ``nn.Linear`` of the encoder gets int8 weights with one scale per output channel;
activations are quantized on the fly per batch (torch's dynamic quantization: oneDNN's kernels
where the CPU has AMX, torch's default x86 kernels elsewhere). The task head stays in float32:
it is tiny and sits right before the decision.

torch's dynamic Linear always quantizes activations to 7 bits ("reduce range"), which guards
the x86 kernels' 16-bit intermediate sums against overflow on CPUs without VNNI. oneDNN
accumulates in 32 bits, so on its engine activations use all 8 bits: half the rounding error,
at the same speed (CoNLL-2003 dev entity F1 −0.21 points from float32 instead of −0.68).

Quantized weights have no safetensors form of their own, so they are stored as plain
tensors, ``<module>.weight_int8`` (int8) and ``<module>.weight_scale`` (float64), next to
the float parameters in ``model.int8.safetensors``; loading rebuilds the quantized modules
from them. Nothing is unpickled.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

from whet.errors import ModelError

SCHEME = "dynamic-int8-per-channel"
WEIGHTS = "model.int8.safetensors"


def choose_engine() -> str:
    """The quantized engine int8 models pack their weights for and run on: oneDNN where the CPU
    has AMX, whose int8 tiles it uses (torch's default x86 engine does not), else torch's default.
    Packed weights belong to the engine they were packed for, so this is set before any packing."""
    if torch.cpu._is_amx_tile_supported() and "onednn" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "onednn"
    return torch.backends.quantized.engine


class FullRangeLinear(DynamicLinear):
    """Dynamic int8 Linear whose activations use all 8 bits, for oneDNN's engine (see above)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        packed = self._packed_params._packed_params
        return torch.ops.quantized.linear_dynamic(x, packed, reduce_range=False).to(x.dtype)


@contextlib.contextmanager
def _without_deprecation_notices() -> Iterator[None]:
    """torch announces that torch.ao's quantization moves to torchao, whose int8 path is not
    fast on CPU without torch.compile; torch's own kernels are the fast ones here, and the notice
    (printed on every export and load) tells a user nothing they can act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="torch.quantize_per_tensor, torch.quantize_per_channel",
                                category=UserWarning)
        yield


def _quantize_dynamic(model: torch.nn.Module, modules: list[str]) -> torch.nn.Module:
    """Swap the named Linear modules for dynamically quantized ones, in place."""
    engine = choose_engine()
    with _without_deprecation_notices():
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        mapping = {torch.nn.Linear: FullRangeLinear} if engine == "onednn" else None
        return quantize_dynamic(model, {name: per_channel_dynamic_qconfig for name in modules},
                                dtype=torch.qint8, mapping=mapping, inplace=True)


def linear_modules(model: torch.nn.Module, keep_float: list[str]) -> list[str]:
    """Names of the Linear modules to quantize: all but those inside a top-level ``keep_float`` module."""
    return [name for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name.split(".", 1)[0] not in keep_float]


def quantize(model: torch.nn.Module) -> tuple[torch.nn.Module, list[str]]:
    """Quantize ``model``'s body in place for CPU inference; returns it and the quantized module names."""
    from whet.methods.trainable import head_module_names

    modules = linear_modules(model, head_module_names(model))
    if not modules:
        raise ModelError("the model has no Linear layers to quantize")
    model.to("cpu").eval()
    return _quantize_dynamic(model, modules), modules


def quantized_state(model: torch.nn.Module, modules: list[str]) -> dict[str, torch.Tensor]:
    """All tensors needed to rebuild the quantized model, as plain safetensors-ready tensors."""
    state = {}
    quantized = set(modules)
    for name, module in model.named_modules():
        if name not in quantized:
            continue
        weight, bias = module._packed_params._weight_bias()
        state[f"{name}.weight_int8"] = weight.int_repr().contiguous()
        state[f"{name}.weight_scale"] = weight.q_per_channel_scales().to(torch.float64).contiguous()
        if bias is not None:
            state[f"{name}.bias"] = bias.detach().contiguous()
    prefixes = tuple(f"{name}." for name in modules)
    for key, tensor in model.state_dict().items():
        if torch.is_tensor(tensor) and not key.startswith(prefixes) and not tensor.is_quantized:
            state[key] = tensor.detach().contiguous()
    return state


def save_weights(path: Path, model: torch.nn.Module, modules: list[str]) -> None:
    from safetensors.torch import save_file

    state = quantized_state(model, modules)
    # Tied weights share storage; safetensors wants each tensor stored once.
    save_file({k: v.clone() for k, v in state.items()}, str(path / WEIGHTS), metadata={"scheme": SCHEME})


def load_weights(path: Path, model: torch.nn.Module, modules: list[str]) -> torch.nn.Module:
    """Rebuild a quantized model from a float skeleton (``from_config``) and the stored tensors."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    file = path / WEIGHTS
    if not file.is_file():
        raise ModelError(f"{path} is marked int8 but has no {WEIGHTS}; export it again with whet export --quantize int8")
    try:
        state = load_file(str(file))
    except SafetensorError as err:  # truncated or overwritten
        raise ModelError(f"{file} is not a readable safetensors file ({err}); export it again with "
                         f"whet export --quantize int8") from None
    prefixes = tuple(f"{name}." for name in modules)
    floats = {k: v for k, v in state.items() if not k.startswith(prefixes)}
    missing, unexpected = model.load_state_dict(floats, strict=False)
    missing = [k for k in missing if not k.startswith(prefixes)]
    if missing or unexpected:
        raise ModelError(f"{file} does not match the model config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.eval()
    _quantize_dynamic(model, modules)
    named = dict(model.named_modules())
    for name in modules:
        try:
            int8, scale = state[f"{name}.weight_int8"], state[f"{name}.weight_scale"]
        except KeyError:
            raise ModelError(f"{file} lacks the int8 weight of {name}; export it again") from None
        shape = [named[name].out_features, named[name].in_features]
        if list(int8.shape) != shape or list(scale.shape) != shape[:1]:
            raise ModelError(f"{file}: the int8 weight of {name} has shape {list(int8.shape)} (scales "
                             f"{list(scale.shape)}) but the model config gives {shape}; export it again")
        zero_points = torch.zeros_like(scale, dtype=torch.long)
        with _without_deprecation_notices():
            weight = torch._make_per_channel_quantized_tensor(int8, scale, zero_points, 0)
            named[name].set_weight_bias(weight, state.get(f"{name}.bias"))
    return model
