"""SetFit (``method: fewshot``): the sentence encoder trains on contrastive pairs of the few
labelled examples, then a logistic-regression head is fitted on its embeddings.

Its recipe (``whet.setfit.encoder_training``) takes the run instead of the shared loop; its models are
``SentenceClassifier``s (``whet.models.sentence_model``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from whet.methods.base import EVERY_TASK, Method, MethodSettings
from whet.methods.full import apply  # every encoder parameter trains in the contrastive phase


class FewShotSettings(MethodSettings):
    shots: int | None = Field(
        None, ge=1, description="Examples per class drawn from data.train (seeded by training.seed); null: all of them."
    )
    pair_iterations: int = Field(
        20, ge=1, le=1000, description="Contrastive pairs: each iteration gives every example one same-label and one other-label partner."
    )
    max_pairs: int | None = Field(
        None, ge=1, description="Most contrastive pairs (a random subset beyond it), to bound training time; null: all."
    )
    epochs: int = Field(1, ge=1, le=100, description="Passes over the contrastive pairs.")
    lr: float = Field(2e-5, gt=0, le=1, description="Learning rate of the encoder during contrastive fine-tuning.")
    batch_size: int = Field(16, ge=1, description="Sentence pairs per contrastive batch.")
    head_c: float = Field(1.0, gt=0, description="Inverse L2 strength of the logistic-regression head (scikit-learn's C).")


TASKS = frozenset({"sequence-classification"})


def recipe(config: Any, *, resume: bool = False) -> dict:
    from whet.setfit.encoder_training import train

    return train(config, resume=resume)


def load_saved(path: Any, tokenizer: Any, labels: list[str]) -> Any:
    from whet.models.sentence_model import load_sentence_classifier

    return load_sentence_classifier(path)


METHOD = Method(name="fewshot", apply=apply, tasks=TASKS, section="fewshot", settings=FewShotSettings,
                summary="the sentence encoder on contrastive pairs, then a logistic-regression head (SetFit)",
                recipe=recipe, load_saved=load_saved,
                why_not={task: "it classifies whole texts into one label" for task in EVERY_TASK - TASKS})
