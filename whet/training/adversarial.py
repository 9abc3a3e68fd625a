"""Adversarial training on the input embeddings (``training.adversarial``): FGM, PGD and FreeLB.

Each method trains a batch on its embedded input plus a small perturbation ``delta`` chosen to
raise the loss. ``delta`` is added to the *output* of the embedding module by a forward hook, so
the embedding weights are never written to: nothing has to be restored, and frozen embeddings
(LoRA, BitFit, frozen, adapters) are perturbed as well as trained ones; the gradient with respect
to ``delta`` exists whether or not the embeddings train. ``delta`` has the embedding output's shape
(sequences, tokens, hidden), and every norm below is the L2 norm of one sequence's perturbation,
as in the papers.

A pass runs the batch's forward and backward passes and returns the loss to report. ``backward``
divides by the accumulation steps and calls ``accelerator.backward``; ``quiet()`` is the
accelerator's ``no_sync``, around every backward pass but the last, so that in a distributed run
the gradients summed over the passes are all-reduced once, as with gradient accumulation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

from whet.errors import ConfigError
from whet.registry import closest

LossOf = Callable[[Any, dict], torch.Tensor]
Backward = Callable[[torch.Tensor], None]
Quiet = Callable[[], contextlib.AbstractContextManager]
TrainPass = Callable[..., torch.Tensor]


def plain_pass(model: Any, batch: dict, loss_of: LossOf, backward: Backward, quiet: Quiet) -> torch.Tensor:
    """One forward and one backward pass: training without a perturbation."""
    loss = loss_of(model, batch)
    backward(loss)
    return loss


@contextlib.contextmanager
def perturbed(embedding: torch.nn.Module, delta: torch.Tensor | None,
              start: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Iterator[dict]:
    """Add ``delta`` to the output of ``embedding`` while inside. With ``delta`` None, the
    perturbation is made at the first forward pass, when its shape is known: ``start(output)``, or
    zeros; it requires a gradient and is kept in the yielded dict under ``"delta"``, where after a
    backward pass its ``grad`` is the loss's gradient with respect to the embedded input."""
    held = {"delta": delta}

    def add(module: Any, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        if held["delta"] is None:
            first = start(output) if start is not None else torch.zeros_like(output, dtype=torch.float32)
            held["delta"] = first.float().requires_grad_(True)
        return output + held["delta"].to(output.dtype)

    handle = embedding.register_forward_hook(add)
    try:
        yield held
    finally:
        handle.remove()


def sequence_norms(tensor: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each sequence's slice, shaped to broadcast over it: (sequences, 1, ...)."""
    norms = tensor.detach().float().flatten(1).norm(dim=1).clamp_min(1e-12)
    return norms.view(-1, *[1] * (tensor.dim() - 1))


def step_along(gradient: torch.Tensor, size: float) -> torch.Tensor:
    """A step of L2 norm ``size`` per sequence in the direction of ``gradient`` (zero where it is zero)."""
    return size * gradient.detach().float() / sequence_norms(gradient)


def project(delta: torch.Tensor, radius: float | None) -> torch.Tensor:
    """``delta`` with each sequence's perturbation pulled back into the L2 ball of ``radius``."""
    if radius is None:
        return delta
    return delta * (radius / sequence_norms(delta)).clamp(max=1.0)


def delta_gradient(loss: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """The gradient of ``loss`` with respect to ``delta`` alone: the parameters' gradients are left as they are."""
    return torch.autograd.grad(loss, delta)[0]


def fgm_pass(model: Any, batch: dict, loss_of: LossOf, backward: Backward, quiet: Quiet, *,
             embedding: torch.nn.Module, epsilon: float) -> torch.Tensor:
    """FGM (Miyato et al., 2017): the clean loss, then the loss at ``r = epsilon * g / ||g||``,
    where ``g`` is the clean loss's gradient with respect to the embedded input; both backward."""
    with perturbed(embedding, None) as held, quiet():
        loss = loss_of(model, batch)
        backward(loss)
    delta = step_along(held["delta"].grad, epsilon)
    with perturbed(embedding, delta):
        backward(loss_of(model, batch))
    return loss


def pgd_pass(model: Any, batch: dict, loss_of: LossOf, backward: Backward, quiet: Quiet, *,
             embedding: torch.nn.Module, epsilon: float, alpha: float, steps: int) -> torch.Tensor:
    """PGD (Madry et al., 2018) on the embedded input: the clean loss backward, then ``steps``
    ascent steps of size ``alpha``, each projected into the ball of radius ``epsilon``; the
    parameters get the gradients of the clean loss and of the loss at the last perturbation.
    The steps in between need only the perturbation's gradient."""
    with perturbed(embedding, None) as held, quiet():
        loss = loss_of(model, batch)
        backward(loss)
    delta = project(step_along(held["delta"].grad, alpha), epsilon)
    for _ in range(steps - 1):
        delta.requires_grad_(True)
        with perturbed(embedding, delta), quiet():
            gradient = delta_gradient(loss_of(model, batch), delta)
        delta = project(delta.detach() + step_along(gradient, alpha), epsilon)
    with perturbed(embedding, delta):
        backward(loss_of(model, batch))
    return loss


def freelb_pass(model: Any, batch: dict, loss_of: LossOf, backward: Backward, quiet: Quiet, *,
                embedding: torch.nn.Module, epsilon: float | None, alpha: float, steps: int,
                init_magnitude: float) -> torch.Tensor:
    """FreeLB (Zhu et al., 2020): from a random perturbation of norm ``init_magnitude``, ``steps``
    ascent steps of size ``alpha`` (within ``epsilon`` when set); every step's backward pass adds
    its parameters' gradients, divided by ``steps``, so they are averaged over the steps. Returns
    the mean loss of the steps."""
    def random_start(output: torch.Tensor) -> torch.Tensor:
        noise = torch.empty_like(output, dtype=torch.float32).uniform_(-1, 1)
        return project(step_along(noise, init_magnitude), epsilon)

    delta, total = None, 0.0
    for step in range(steps):
        last = step == steps - 1
        with perturbed(embedding, delta, random_start if init_magnitude > 0 else None) as held, \
                (contextlib.nullcontext() if last else quiet()):
            loss = loss_of(model, batch)
            backward(loss / steps)
        total = total + loss.detach()
        if not last:
            delta = held["delta"]
            delta = project(delta.detach() + step_along(delta.grad, alpha), epsilon).requires_grad_(True)
    return total / steps


def input_embeddings(model: Any, name: str | None) -> torch.nn.Module:
    """The module to perturb: ``name`` as in ``model.named_modules()`` (a peft wrapper's prefix may be
    left out), or by default the model's input word embeddings."""
    if name is None:
        getter = getattr(model, "get_input_embeddings", None)
        embedding = getter() if getter is not None else None
        if embedding is None:
            raise ConfigError(f"training.adversarial.embedding: {type(model).__name__} does not say which module "
                              f"embeds its input; name the module, e.g. embedding: embeddings.word_embeddings")
        return embedding
    modules = dict(model.named_modules())
    matches = [module for key, module in modules.items() if key == name or key.endswith("." + name)]
    if len(matches) != 1:
        guess = closest(name, [key for key in modules if key.endswith("embeddings")] or list(modules))
        why = "matches several modules" if matches else "is not a module of the model"
        raise ConfigError(f"training.adversarial.embedding: '{name}' {why}; "
                          + (f"did you mean '{guess}'?" if guess else "name one from model.named_modules()"))
    return matches[0]


def adversarial_pass(settings: Any, model: Any) -> TrainPass:
    """The training pass for ``training.adversarial`` (``settings``) on ``model`` (unwrapped), or
    the plain pass when its method is ``none``."""
    if settings.method == "none":
        return plain_pass
    embedding = input_embeddings(model, settings.embedding)

    def train_pass(model: Any, batch: dict, loss_of: LossOf, backward: Backward, quiet: Quiet) -> torch.Tensor:
        if settings.method == "fgm":
            return fgm_pass(model, batch, loss_of, backward, quiet, embedding=embedding, epsilon=settings.epsilon)
        if settings.method == "pgd":
            return pgd_pass(model, batch, loss_of, backward, quiet, embedding=embedding, epsilon=settings.epsilon,
                            alpha=settings.alpha, steps=settings.steps)
        return freelb_pass(model, batch, loss_of, backward, quiet, embedding=embedding, epsilon=settings.epsilon,
                           alpha=settings.alpha, steps=settings.steps, init_magnitude=settings.init_magnitude)

    return train_pass
