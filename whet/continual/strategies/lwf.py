"""Learning without Forgetting (Li & Hoiem, 2016): while the new experience trains, the model's
outputs on the old labels are distilled from the model as it was before the experience.

    loss = task loss + weight * T^2 * KL(softmax(old / T) || softmax(new / T))

over the old labels only (in a class-incremental plan the new rows have no teacher), and, in a
task-incremental plan, separately over each earlier task's labels. Multi-label models distil
each label's sigmoid instead. NER distils every labelled word. The teacher is the previous
step's saved model, so nothing extra is stored.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from whet.continual.strategies.base import Step
from whet.models.inference import model_inputs

IGNORE = -100


class LwF:
    name = "lwf"
    restarts = False

    def __init__(self, weight: float, temperature: float) -> None:
        self.weight = weight
        self.temperature = temperature
        self.teacher: Any = None
        self.groups: list[torch.Tensor] = []

    def before_experience(self, model: Any, step: Step) -> None:
        from whet.continual.step_models import load_plain_model

        self.teacher = None
        if step.previous is None or not step.old_labels:
            return  # the first experience of a new model: there is nothing to remember yet
        self.teacher = load_plain_model(step.previous).to(step.device).eval()
        self.teacher.requires_grad_(False)
        self.groups = label_groups(step)

    def extra_loss(self, model: Any, batch: dict, outputs: Any) -> torch.Tensor | None:
        if self.teacher is None:
            return None
        inputs = {k: v for k, v in model_inputs(batch).items() if k != "labels"}
        with torch.no_grad():
            old = self.teacher(**inputs).logits
        new = outputs.logits[..., : old.shape[-1]]
        labels = batch.get("labels")
        if new.dim() == 3 and labels is not None:  # NER: (batch, seq, labels) -> (labelled words, labels)
            words = labels != IGNORE
            new, old = new[words], old[words]
        multi_label = labels is not None and labels.dtype.is_floating_point
        return self.weight * distillation_loss(new, old, self.groups, self.temperature, multi_label)

    def after_experience(self, model: Any, step: Step) -> None:
        self.teacher = None  # free the copy before the next step loads its own


def label_groups(step: Step) -> list[torch.Tensor]:
    """The sets of old-label indices distilled separately: one per earlier task in a task-incremental
    plan, else one with every old label."""
    if step.scenario != "task-incremental":
        return [torch.arange(len(step.old_labels), device=step.device)]
    index = {label: i for i, label in enumerate(step.old_labels)}
    groups = []
    for name, labels in step.task_labels.items():
        if name == step.experience.name:
            continue
        kept = [index[label] for label in labels if label in index]
        if kept:
            groups.append(torch.tensor(kept, device=step.device))
    return groups or [torch.arange(len(step.old_labels), device=step.device)]


def distillation_loss(new: torch.Tensor, old: torch.Tensor, groups: list[torch.Tensor], temperature: float,
                      multi_label: bool = False) -> torch.Tensor:
    """Mean over ``groups`` of T^2 * KL(teacher || student) on the logits (..., labels); zero when they agree."""
    losses = []
    for group in groups:
        student = new.index_select(-1, group).float() / temperature
        teacher = old.index_select(-1, group).float() / temperature
        if multi_label:
            target = torch.sigmoid(teacher)
            # Binary KL per label: cross-entropy to the teacher minus the teacher's own entropy.
            kl = (F.binary_cross_entropy_with_logits(student, target)
                  - F.binary_cross_entropy_with_logits(teacher, target))
        else:
            student, teacher = student.reshape(-1, len(group)), teacher.reshape(-1, len(group))
            kl = F.kl_div(F.log_softmax(student, -1), F.log_softmax(teacher, -1), log_target=True,
                          reduction="batchmean")
        losses.append(kl * temperature ** 2)
    return torch.stack(losses).mean()


def build(plan: Any) -> LwF:
    return LwF(plan.strategy.lwf.weight, plan.strategy.lwf.temperature)
