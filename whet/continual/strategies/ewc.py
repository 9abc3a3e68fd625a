"""Elastic Weight Consolidation (Kirkpatrick et al., 2017): a quadratic penalty holds the weights
that mattered for earlier experiences near the values they had then.

    separate: lambda/2 * sum_t sum_i F_t,i (theta_i - theta*_t,i)^2, one (F_t, theta*_t) per experience
    online:   lambda/2 * sum_i F_i (theta_i - theta*_i)^2, with F <- gamma F + F_t and theta* <- theta_t
              after each experience (Schwarz et al., 2018)

F is the diagonal empirical Fisher of the experience just trained: the mean, over its training
examples taken one at a time, of the squared gradient of the task loss. A parameter that grew
since (a class-incremental head) is penalised on its old rows only. The Fisher and anchors
are saved with the model (safetensors), so a later plan continues the penalty.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from whet.continual.strategies.base import Step
from whet.models.inference import move_to
from whet.io.atomic import write_bytes_atomic

EWC_FILE = "ewc.safetensors"

Tensors = dict[str, torch.Tensor]


class EWC:
    name = "ewc"
    restarts = False

    def __init__(self, weight: float, mode: str, decay: float, fisher_examples: int) -> None:
        self.weight = weight
        self.mode = mode
        self.decay = decay
        self.fisher_examples = fisher_examples
        self.terms: list[tuple[Tensors, Tensors]] = []  # (Fisher, anchor) per penalty term

    def load(self, directory: Path) -> None:
        path = Path(directory) / EWC_FILE
        self.terms = []
        if not path.is_file():
            return
        terms: dict[int, tuple[Tensors, Tensors]] = {}
        for key, value in load_file(str(path)).items():
            index, kind, name = key.split(".", 2)  # "<term>.<fisher|anchor>.<parameter>"
            fisher, anchor = terms.setdefault(int(index), ({}, {}))
            (fisher if kind == "fisher" else anchor)[name] = value
        self.terms = [terms[index] for index in sorted(terms)]

    def before_experience(self, model: Any, step: Step) -> None:
        def moved(tensors: Tensors) -> Tensors:
            return {name: value.to(step.device) for name, value in tensors.items()}

        self.terms = [(moved(fisher), moved(anchor)) for fisher, anchor in self.terms]

    def extra_loss(self, model: Any, batch: dict, outputs: Any) -> torch.Tensor | None:
        return self.penalty(model) if self.terms else None

    def penalty(self, model: Any) -> torch.Tensor:
        parameters = dict(model.named_parameters())
        total = torch.zeros((), device=next(iter(parameters.values())).device)
        for fisher, anchor in self.terms:
            for name, importance in fisher.items():
                parameter = parameters.get(name)
                if parameter is None or not parameter.requires_grad:
                    continue
                current = old_rows(parameter, anchor[name].shape)
                if current is not None:
                    total = total + (importance * (current - anchor[name]) ** 2).sum()
        return self.weight / 2 * total

    def after_experience(self, model: Any, step: Step) -> None:
        fisher = estimate_fisher(model, step, self.fisher_examples)
        anchor = {name: p.detach().clone() for name, p in model.named_parameters() if name in fisher}
        if self.mode == "separate" or not self.terms:
            self.terms = ([] if self.mode == "online" else self.terms) + [(fisher, anchor)]
            return
        earlier, _ = self.terms[0]
        for name, value in fisher.items():
            if name in earlier:
                fisher[name] = value + self.decay * grown(earlier[name], value.shape)
        self.terms = [(fisher, anchor)]

    def save(self, directory: Path, model: Any) -> None:
        tensors = {}
        for index, (fisher, anchor) in enumerate(self.terms):
            tensors.update({f"{index}.fisher.{k}": v.detach().cpu().contiguous() for k, v in fisher.items()})
            tensors.update({f"{index}.anchor.{k}": v.detach().cpu().contiguous() for k, v in anchor.items()})
        write_bytes_atomic(Path(directory) / EWC_FILE, save(tensors))


def old_rows(parameter: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
    """``parameter`` cut to ``shape`` when it only grew in its first dimension; None if it changed otherwise."""
    if parameter.shape == shape:
        return parameter
    if parameter.shape[1:] == shape[1:] and parameter.shape[0] >= shape[0]:
        return parameter[: shape[0]]
    return None


def grown(old: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``old`` zero-padded in its first dimension to ``shape`` (new head rows have no importance yet)."""
    if old.shape == shape:
        return old
    out = torch.zeros(shape, dtype=old.dtype, device=old.device)
    out[: old.shape[0]] = old
    return out


def estimate_fisher(model: Any, step: Step, limit: int) -> Tensors:
    """Diagonal empirical Fisher of the trainable parameters on (a sample of) the experience's training data."""
    examples = step.experience.train
    if len(examples) > limit:
        examples = random.Random(step.seed).sample(examples, limit)
    features = step.encode(examples, step.experience.name)
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    fisher = {name: torch.zeros_like(p) for name, p in trainable.items()}
    was_training = model.training
    model.eval()  # no dropout: the gradient of the model as it will be used
    try:
        for feature in features:
            model.zero_grad(set_to_none=True)
            step.task_loss(model, move_to(step.collate([feature]), step.device)).backward()
            for name, p in trainable.items():
                if p.grad is not None:
                    fisher[name] += p.grad.detach() ** 2
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return {name: value / max(len(features), 1) for name, value in fisher.items()}


def build(plan: Any) -> EWC:
    ewc = plan.strategy.ewc
    return EWC(ewc.weight, ewc.mode, ewc.decay, ewc.fisher_examples)
