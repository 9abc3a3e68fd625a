"""The seam every strategy implements, and what it is shown of each step.

Strategies are plain objects; nothing inherits from ``Strategy``. Every hook is optional: a
strategy defines the ones it needs and the runner skips the others (``hooks``). The runner
calls them in this order for each experience:

    load(previous model dir)  -> training_examples(step) -> prepare_model(model, step)
    -> before_experience(model, step) -> [training: extra_loss(model, batch, outputs) per batch]
    -> after_experience(model, step) -> route(model, name) per scored experience
    -> model_to_save(model) -> save(model dir, model)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch


@dataclass
class ExperienceData:
    """One experience of the plan, read and converted: examples of each split and its labels."""

    name: str
    train: list[Any]
    dev: list[Any]
    test: list[Any] | None
    labels: list[str]  # the labels of its training data (NER: every tag of its entity types)


@dataclass
class Step:
    """What a strategy sees of the step that trains one experience."""

    index: int  # 1-based position in the plan
    experience: ExperienceData
    earlier: list[ExperienceData]  # the plan's experiences trained before this one
    labels: list[str]  # the head's labels while this experience trains
    old_labels: list[str]  # the head's labels before it ([] when a new head starts the plan)
    task_labels: dict[str, list[str]]  # experience name -> its labels (task-incremental routing)
    scenario: str
    previous: Path | None  # the model directory this step starts from; None for a pretrained model
    seed: int
    device: torch.device
    encode: Callable[[list[Any]], list[dict]]  # examples -> features with this step's labels
    collate: Callable[[list[dict]], dict]  # features -> a batch, with label masks in task-incremental plans
    task_loss: Callable[[Any, dict], torch.Tensor]  # the loss of a batch without any strategy's penalty


class Strategy(Protocol):
    name: str
    # joint: every step starts again from the plan's starting model instead of the previous step's.
    restarts: bool

    def load(self, directory: Path) -> None:
        """Read the state this strategy saved with a model (nothing when there is none)."""

    def training_examples(self, step: Step) -> list[tuple[str, Any]]:
        """(experience name, example) pairs trained on besides the experience's own examples."""

    def prepare_model(self, model: Any, step: Step) -> Any:
        """The model to train, instead of the plan's method applied to ``model``."""

    def before_experience(self, model: Any, step: Step) -> None:
        """Set up what training needs (a teacher model, anchors)."""

    def extra_loss(self, model: Any, batch: dict, outputs: Any) -> torch.Tensor | None:
        """A term added to the loss of every training batch."""

    def after_experience(self, model: Any, step: Step) -> None:
        """Update the state with the trained model and the experience (memory, Fisher)."""

    def route(self, model: Any, experience: str) -> None:
        """Make ``model`` ready to score ``experience`` (task-incremental routing)."""

    def model_to_save(self, model: Any) -> Any:
        """The plain transformers model to save as the step's model."""

    def save(self, directory: Path, model: Any) -> None:
        """Write this strategy's state into the saved model directory."""


def hooks(strategies: list[Any], name: str) -> Iterator[Callable]:
    """The ``name`` hooks of the strategies that define it, in plan order."""
    for strategy in strategies:
        hook = getattr(strategy, name, None)
        if hook is not None:
            yield hook
