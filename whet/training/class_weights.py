"""Class weights in the loss: rare classes count more, for data whose classes are far from even.

Macro-averaged scores weigh every class alike, while the plain loss weighs every example alike;
with a class ten times rarer than another, the model learns it from ten times fewer gradients.
``balanced`` gives each class the weight n / (classes * count) over the training labels
(scikit-learn's ``class_weight="balanced"``); a mapping sets chosen labels' weights.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import torch

from whet.errors import ConfigError

IGNORE = -100  # labels the loss skips (sub-word pieces, special tokens)
WEIGHTED_TASKS = ("sequence-classification", "token-classification")


def class_weight_vector(setting: str | dict[str, float], labels: list[str], features: list[dict]) -> torch.Tensor:
    """One weight per label id: from the training ``features``' label counts (``balanced``), or
    the mapping's weights (labels it leaves out weigh 1)."""
    if isinstance(setting, dict):
        unknown = sorted(set(setting) - set(labels))
        if unknown:
            raise ConfigError(f"training.class_weights: {', '.join(unknown)} not among the labels "
                              f"({', '.join(labels)}); name labels of the training data")
        return torch.tensor([float(setting.get(label, 1.0)) for label in labels])
    counts = Counter()
    for feature in features:
        value = feature.get("labels")
        counts.update(value if isinstance(value, list) else [value])
    counts.pop(IGNORE, None)
    counts.pop(None, None)
    seen = sum(counts.values())
    # A label with no training example gets the weight of one: it cannot be learned from anyway.
    return torch.tensor([seen / (len(labels) * max(counts[i], 1)) for i in range(len(labels))])


def weighted_cross_entropy(weights: torch.Tensor) -> Callable[[Any, dict], torch.Tensor]:
    """``loss(output, batch)``: cross entropy of the output's logits against the batch's labels with
    ``weights`` per class, averaged over the weights of the labelled positions."""

    def loss(output: Any, batch: dict) -> torch.Tensor:
        logits = output.logits
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                                 batch["labels"].reshape(-1),
                                                 weight=weights.to(logits.device), ignore_index=IGNORE)

    return loss


def weighted_loss_of(task_loss: Callable[[Any, dict], torch.Tensor]) -> Callable[[Any, dict], torch.Tensor]:
    """``loss_of(model, batch)`` of one pass scored by ``task_loss``, for the loop's ``batch_loss``."""
    from whet.models.inference import model_inputs

    return lambda model, batch: task_loss(model(**model_inputs(batch)), batch)
