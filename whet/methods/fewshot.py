"""SetFit (``method: fewshot``): the sentence encoder trains on contrastive pairs of the few
labelled examples, then a logistic-regression head is fitted on its embeddings.

Its recipe (``whet.fewshot.encoder_training``) takes the run instead of the shared loop; its models are
``SentenceClassifier``s (``whet.models.sentence_model``).
"""

from __future__ import annotations

from typing import Any

from whet.methods.base import EVERY_TASK, Method
from whet.methods.full import apply  # every encoder parameter trains in the contrastive phase

TASKS = frozenset({"sequence-classification"})


def recipe(config: Any, *, resume: bool = False) -> dict:
    from whet.fewshot.encoder_training import train

    return train(config, resume=resume)


def load_saved(path: Any, tokenizer: Any, labels: list[str]) -> Any:
    from whet.models.sentence_model import load_sentence_classifier

    return load_sentence_classifier(path)


METHOD = Method(name="fewshot", apply=apply, tasks=TASKS, section="fewshot",
                summary="the sentence encoder on contrastive pairs, then a logistic-regression head (SetFit)",
                recipe=recipe, load_saved=load_saved,
                why_not={task: "it classifies whole texts into one label" for task in EVERY_TASK - TASKS})
