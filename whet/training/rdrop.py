"""R-Drop (Liang et al., 2021; ``training.rdrop``): each batch goes through the model twice, with
different dropout masks, and the loss is the mean of the two task losses plus ``alpha`` times the
symmetric KL divergence between the two predicted distributions, ``(KL(p1||p2) + KL(p2||p1)) / 2``,
averaged over the predictions (the reference implementation's loss, with the KL averaged rather
than summed over the batch, so ``alpha`` does not depend on the batch size).

The predictions compared are the task's outputs: one distribution over the labels per text
(sequence classification, PET), per choice set (multiple choice), per labelled token (token
classification), per labelled next token (a causal LM: over its whole vocabulary, so memory grows
with it), and over the start and over the end positions (question answering, the two averaged).
Multi-label classification compares each label's yes/no (Bernoulli) distribution. Without dropout
the two passes agree and the divergence is zero: R-Drop then only costs the second pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from whet.models.inference import model_inputs

IGNORE = -100  # transformers' label for positions without a loss


def symmetric_kl(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``(KL(p||q) + KL(q||p)) / 2`` for the softmax distributions of two (rows, classes) logits,
    averaged over the rows (zero when there are none)."""
    if first.shape[0] == 0:
        return first.sum() * 0.0
    p, q = F.log_softmax(first.float(), dim=-1), F.log_softmax(second.float(), dim=-1)
    return (F.kl_div(q, p, log_target=True, reduction="batchmean")
            + F.kl_div(p, q, log_target=True, reduction="batchmean")) / 2


def symmetric_bernoulli_kl(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """The same for independent yes/no labels: per label ``(KL(p||q) + KL(q||p)) / 2 =
    (p - q) * (logit p - logit q) / 2``, summed over the labels, averaged over the rows."""
    first, second = first.float(), second.float()
    return ((torch.sigmoid(first) - torch.sigmoid(second)) * (first - second)).sum(dim=-1).mean() / 2


def labelled_rows(logits: torch.Tensor, labels: torch.Tensor, next_token_labels: bool) -> torch.Tensor:
    """(batch, seq, classes) logits -> (labelled positions, classes). A causal LM's logits at
    position t predict the label at t + 1. A prompt method's virtual tokens come first in the
    logits and have no labels."""
    logits = logits[:, logits.shape[1] - labels.shape[1]:]
    if next_token_labels:
        logits, labels = logits[:, :-1], labels[:, 1:]
    return logits[labels != IGNORE]


def divergence(first: Any, second: Any, batch: dict, *, next_token_labels: bool = False) -> torch.Tensor:
    """The symmetric KL divergence between two passes' outputs (``ModelOutput``s) on ``batch``."""
    if getattr(first, "start_logits", None) is not None:  # question answering: over the positions
        return (symmetric_kl(first.start_logits, second.start_logits)
                + symmetric_kl(first.end_logits, second.end_logits)) / 2
    a, b, labels = first.logits, second.logits, batch.get("labels")
    if a.dim() == 3 and labels is not None and labels.dim() == 2:  # one prediction per labelled token
        return symmetric_kl(labelled_rows(a, labels, next_token_labels), labelled_rows(b, labels, next_token_labels))
    if labels is not None and labels.is_floating_point() and labels.shape == a.shape:  # multi-label
        return symmetric_bernoulli_kl(a, b)
    return symmetric_kl(a.flatten(0, -2), b.flatten(0, -2))


def rdrop_loss(alpha: float, *, next_token_labels: bool = False,
               task_loss: Callable[[Any, dict], torch.Tensor] | None = None) -> Callable[[Any, dict], torch.Tensor]:
    """The batch loss with R-Drop: ``loss_of(model, batch)``, for ``training_steps``'s ``batch_loss``.
    ``next_token_labels``: the labels are the next tokens (a causal LM); ``task_loss(output, batch)``
    replaces each pass's own loss (class weights)."""

    def loss_of(model: Any, batch: dict) -> torch.Tensor:
        inputs = model_inputs(batch)
        first, second = model(**inputs), model(**inputs)  # (1, 2): different dropout masks
        losses = (task_loss(first, batch), task_loss(second, batch)) if task_loss else (first.loss, second.loss)
        return sum(losses) / 2 + alpha * divergence(first, second, batch, next_token_labels=next_token_labels)

    return loss_of
