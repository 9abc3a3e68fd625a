"""One LoRA adapter per experience, chosen by task id, with O-LoRA's orthogonality loss.

Each experience trains a new LoRA adapter (rank and targets from ``method.lora``) and the
task head; the pretrained body and every earlier adapter stay frozen, so an earlier task
scored through its own adapter is changed only through its head rows. Scoring experience
``t`` routes through adapter ``t`` (task-incremental: the task id is known).

O-LoRA (Wang et al., 2023) keeps the new adapter's subspace apart from the earlier ones:

    loss += orthogonality * sum_layers sum_earlier ||A_earlier A_new^T||_F^2

where A is an adapter's down-projection (rank x inputs): zero when the row spaces are
orthogonal. The adapters are saved with the model as ``adapters.safetensors``; the model
directory itself holds the plain body and head.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch

from whet.continual.strategies.base import Step
from whet.errors import ModelError

ADAPTERS_FILE = "adapters.safetensors"


class Adapters:
    name = "adapters"
    restarts = False

    def __init__(self, lora: Any, orthogonality: float) -> None:
        self.lora = lora
        self.orthogonality = orthogonality
        self.names: list[str] = []  # adapters in the order they were trained
        self.saved: dict[str, torch.Tensor] = {}
        self.current: str | None = None

    def load(self, directory: Path) -> None:
        from safetensors import safe_open

        path = Path(directory) / ADAPTERS_FILE
        self.names, self.saved = [], {}
        if not path.is_file():
            return
        with safe_open(str(path), framework="pt") as handle:
            self.names = json.loads((handle.metadata() or {}).get("adapters", "[]"))
            self.saved = {key: handle.get_tensor(key) for key in handle.keys()}

    def prepare_model(self, model: Any, step: Step) -> Any:
        from whet.methods.trainable import head_module_names, is_head_parameter

        heads = head_module_names(model)
        for name in self.names:
            add_adapter(model, name, self.lora)
        if self.saved:
            unexpected = model.load_state_dict(self.saved, strict=False).unexpected_keys
            if unexpected:
                raise ModelError(f"{ADAPTERS_FILE} does not fit this model (e.g. {unexpected[0]}); was method.lora "
                                 f"changed since it was written?")
        self.current = step.experience.name
        if self.current not in self.names:
            add_adapter(model, self.current, self.lora)
            self.names.append(self.current)
        route(model, self.current)
        marker = f".{self.current}."
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(is_head_parameter(name, heads) or (".lora_" in name and marker in name))
        return model

    def extra_loss(self, model: Any, batch: dict, outputs: Any) -> torch.Tensor | None:
        if not self.orthogonality or len(self.names) < 2:
            return None
        earlier = [name for name in self.names if name != self.current]
        return self.orthogonality * orthogonality_loss(model, self.current, earlier)

    def route(self, model: Any, experience: str) -> None:
        route(model, experience if experience in self.names else None)

    def model_to_save(self, model: Any) -> Any:
        return without_adapters(model)

    def save(self, directory: Path, model: Any) -> None:
        from safetensors.torch import save

        from whet.io.atomic import write_bytes_atomic

        tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()
                   if ".lora_" in key}
        metadata = {"adapters": json.dumps(self.names), "lora": self.lora.model_dump_json()}
        write_bytes_atomic(Path(directory) / ADAPTERS_FILE, save(tensors, metadata=metadata))


def without_adapters(model: Any) -> Any:
    """The body and head of a model with injected adapters, as a plain transformers model."""
    from whet.models.pretrained import quiet_transformers

    state = {key.replace(".base_layer.", "."): value for key, value in model.state_dict().items()
             if ".lora_" not in key}
    with quiet_transformers():
        plain = type(model)(model.config)  # injection changes modules, not the model's class
    plain.load_state_dict(state, strict=True)
    return plain


def task_model(directory: str | Path, task: str) -> Any:
    """The model a step of an ``adapters`` plan saved, for one task: that task's adapter merged into
    the body, a plain transformers model (its head has every label seen; the task's own labels are
    listed in the directory's continual.json).

    Example:
        >>> model = task_model("runs/plan/steps/03-travel/model", "banking")  # doctest: +SKIP
    """
    from safetensors import safe_open

    from whet.methods.lora import LoraSettings
    from whet.continual.step_models import load_plain_model

    adapters = Adapters(None, 0.0)
    adapters.load(Path(directory))
    if task not in adapters.names:
        raise ModelError(f"{directory} has no adapter for '{task}'; it has: {', '.join(adapters.names) or 'none'}")
    with safe_open(str(Path(directory) / ADAPTERS_FILE), framework="pt") as handle:
        lora = LoraSettings.model_validate_json(handle.metadata()["lora"])
    model = load_plain_model(directory)
    for name in adapters.names:
        add_adapter(model, name, lora)
    model.load_state_dict(adapters.saved, strict=False)
    for layer in lora_layers(model):
        layer.merge(adapter_names=[task])
    return without_adapters(model).eval()


def add_adapter(model: Any, name: str, lora: Any) -> None:
    """Inject a new LoRA adapter called ``name`` into the model's target layers (in place)."""
    from peft import LoraConfig
    from peft.functional import inject_adapter_in_model

    from whet.methods.trainable import peft_default_targets

    targets = lora.target_modules or peft_default_targets(
        model, "TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING", "method.lora.target_modules")
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*multiple adapters.*")  # several adapters are the point
        inject_adapter_in_model(config, model, adapter_name=name)


def lora_layers(model: Any) -> list[Any]:
    from peft.tuners.lora import LoraLayer

    return [module for module in model.modules() if isinstance(module, LoraLayer)]


def route(model: Any, name: str | None) -> None:
    """Send inputs through adapter ``name``, or through the bare body when ``name`` is None."""
    for layer in lora_layers(model):
        if name is None:
            layer.enable_adapters(False)
        else:
            layer.enable_adapters(True)
            layer.set_adapter(name)


def orthogonality_loss(model: Any, new: str, earlier: list[str]) -> torch.Tensor:
    """sum over LoRA layers and earlier adapters of ||A_earlier A_new^T||_F^2."""
    total = None
    for layer in lora_layers(model):
        if new not in layer.lora_A:
            continue
        current = layer.lora_A[new].weight  # (rank, inputs)
        for name in earlier:
            if name in layer.lora_A:
                overlap = layer.lora_A[name].weight.detach() @ current.T  # (rank_earlier, rank)
                term = (overlap ** 2).sum()
                total = term if total is None else total + term
    return total if total is not None else torch.zeros(())


def build(plan: Any) -> Adapters:
    return Adapters(plan.method.lora, plan.strategy.adapters.orthogonality)
