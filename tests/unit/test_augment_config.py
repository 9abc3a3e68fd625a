"""``data.augment`` in a run config: checked with the rest, each problem one line naming the field."""

from __future__ import annotations

import pytest

from whet.config import validation_problems
from whet.data.settings import AugmentConfig


def problems(task: str = "sequence-classification", training_method: str = "full", **augment) -> list[str]:
    return validation_problems({"task": task, "method": {"name": training_method}, "data": {"augment": augment}})


def test_defaults_are_valid_and_auto_means_the_tasks_method():
    assert problems() == [] and problems("token-classification") == []
    assert AugmentConfig().method_for("sequence-classification") == "eda"
    assert AugmentConfig().method_for("token-classification") == "entities"


@pytest.mark.parametrize(("raw", "expected"), [
    ({"copies": 0}, "data.augment.copies: Input should be greater than or equal to 1 (got 0)"),
    ({"random_swap": 1.5}, "data.augment.random_swap: Input should be less than or equal to 1 (got 1.5)"),
    ({"copiez": 2}, "data.augment.copiez: unknown key; did you mean 'copies'?"),
    ({"method": "backtranslation"}, "data.augment.method: Input should be 'auto', 'eda', 'entities', "
                                    "'back-translation' or 'paraphrase' (got 'backtranslation')"),
    ({"method": "back-translation", "translate_to": "m"},
     "data.augment: method back-translation needs translate_to and translate_back, the two seq2seq models "
     "(e.g. Helsinki-NLP/opus-mt-en-de and Helsinki-NLP/opus-mt-de-en)"),
    ({"method": "paraphrase"}, "data.augment: method paraphrase needs paraphrase_model, a causal language model"),
    ({"method": "paraphrase", "paraphrase_model": "gpt2", "paraphrase_prompt": "Say it again:"},
     "data.augment: paraphrase_prompt has no {text}; put {text} where the text goes"),
    ({"method": "entities"}, "data.augment.method: entities is for token classification (NER); use eda, "
                             "back-translation or paraphrase (or auto) for sequence-classification"),
])
def test_bad_values_are_one_line_naming_the_field(raw, expected):
    assert problems(**raw) == [expected]


def test_the_word_and_generation_methods_belong_to_classification():
    [found] = problems("token-classification", **{"method": "back-translation", "translate_to": "a", "translate_back": "b"})
    assert found == ("data.augment.method: back-translation is for classification; a generated text has other words "
                     "in another order, so the tags cannot follow it; use method: entities (or auto) for "
                     "token-classification")
    [found] = problems("token-classification", **{"method": "eda"})
    assert "eda is for classification; its word operations do not keep the tags" in found


def test_other_tasks_and_the_fewshot_recipe_refuse_augmentation():
    [found] = validation_problems({"task": "question-answering", "data": {"augment": {}}})
    assert found == ("data.augment: augmentation makes sequence- or token-classification examples, not "
                     "question-answering ones; remove data.augment")
    [found] = problems(training_method="fewshot")
    assert found == ("data.augment: method fewshot trains with its own recipe, which does not augment; remove "
                     "data.augment, or train on a file written by whet augment")
