"""A request's inputs, checked against the limits and parsed for the model, before they are queued.

Every problem becomes an ``InputError`` naming the input (1-based, as ``whet predict``
does) and the fix; the route answers it with 422, so no bad input reaches a batch. What is
queued are the parsed examples, so the batch worker does not parse the inputs again.
"""

from __future__ import annotations

import re
from typing import Any

from whet.config import DataConfig
from whet.errors import DataError, WhetError
from whet.serve.settings import LimitSettings

SURROGATE = re.compile(r"[\ud800-\udfff]")


class InputError(WhetError):
    """A request's inputs cannot be predicted on as they are."""


def prepared_inputs(inputs: list[Any], task: Any, data: DataConfig, limits: LimitSettings) -> list[Any]:
    """The examples to give ``Predictor.predict_examples`` for a model of ``task`` with data settings
    ``data``: text pairs become records, everything is checked, and the task parses the records
    as ``whet predict`` does."""
    if not inputs:
        raise InputError("inputs is empty; send at least one text")
    if len(inputs) > limits.max_texts:
        raise InputError(f"inputs has {len(inputs)} items; this server takes at most {limits.max_texts} per request "
                         f"(limits.max_texts); split the request")
    records = []
    for number, item in enumerate(inputs, 1):
        if isinstance(item, tuple):
            if not data.text_pair_column:
                raise InputError(f"input {number}: this model does not take text pairs; send single texts")
            item = {data.text_column: item[0], data.text_pair_column: item[1]}
        for text in _texts(item):
            check_text(text, number, limits)
        records.append(item)
    try:
        return task.prediction_inputs(records, data)
    except DataError as err:
        raise InputError(str(err)) from None


def _texts(item: Any) -> list[str]:
    if isinstance(item, str):
        return [item]
    texts = []
    for value in item.values():
        # A word list counts as one text of its words' total length.
        texts.append("".join(value) if isinstance(value, list) else value)
    return texts


def check_text(text: str, number: int, limits: LimitSettings, what: str = "input") -> None:
    if len(text) > limits.max_chars:
        raise InputError(f"{what} {number}: {len(text)} characters; this server takes at most {limits.max_chars} "
                         f"per text (limits.max_chars); split the text")
    found = SURROGATE.search(text)
    if found:
        raise InputError(f"{what} {number}: the text holds an unpaired surrogate (U+{ord(found.group()):04X}) at "
                         f"character {found.start()}; send valid Unicode")
