"""PET (``method: pet``, Schick & Schütze, 2021): a masked LM trained to fill a pattern's mask
with the label's word; every parameter trains.

The model is a ``PatternClassifier`` (``whet.models.pattern_model``), built in place of a model with a
new head: its class scores are the label words' logits at the mask, so training starts from
the pretrained model's own zero-shot guess.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from whet.methods.base import EVERY_TASK, Method, MethodSettings
from whet.methods.full import apply


class PetSettings(MethodSettings):
    pattern: str = Field(
        "{text} Topic: {mask}.", description="Pattern the text is put into; the label's word is predicted at {mask}."
    )
    verbalizers: dict[str, str] = Field(
        default_factory=dict, description="Label -> the word that names it at the mask; default: the label's name."
    )


TASKS = frozenset({"sequence-classification"})


def build_model(name: str, tokenizer: Any, labels: list[str], settings: Any) -> Any:
    from whet.models.pattern_model import build_pattern_classifier

    return build_pattern_classifier(name, tokenizer, labels, settings.pattern, settings.verbalizers)


def input_tokens(settings: Any, tokenizer: Any, labels: list[str]) -> int:
    from whet.models.pattern_model import pattern_length

    return pattern_length(tokenizer, settings.pattern, labels, settings.verbalizers)


def load_saved(path: Any, tokenizer: Any, labels: list[str]) -> Any:
    from whet.models.pattern_model import load_pattern_classifier

    return load_pattern_classifier(path, tokenizer, labels)


METHOD = Method(name="pet", apply=apply, tasks=TASKS, section="pet", settings=PetSettings,
                summary="a masked LM whose word predictions at a pattern's mask are the class scores (PET)",
                build_model=build_model, input_tokens=input_tokens, load_saved=load_saved,
                why_not={task: "it classifies whole texts into one label" for task in EVERY_TASK - TASKS})
