"""Drawing k labelled examples per class, reproducibly."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from whet.errors import DataError


def examples_by_label(examples: list[Any]) -> dict[str, list[Any]]:
    """Single-label examples grouped by label, in file order."""
    groups: dict[str, list[Any]] = defaultdict(list)
    for example in examples:
        groups[example.labels[0]].append(example)
    return dict(groups)


def sample_per_class(examples: list[Any], k: int, seed: int, *, source: str, setting: str) -> list[Any]:
    """``k`` examples of every label, drawn with ``seed``; the result keeps file order.

    ``source`` names the data and ``setting`` the option that asked for ``k`` in the error
    raised when a label has fewer than ``k`` examples.
    """
    groups = examples_by_label(examples)
    short = {label: len(group) for label, group in groups.items() if len(group) < k}
    if short:
        listed = ", ".join(f"'{label}' ({n})" for label, n in sorted(short.items(), key=lambda kv: (kv[1], kv[0])))
        raise DataError(f"{source}: {setting} is {k} but {len(short)} label(s) have fewer examples: {listed}; "
                        f"lower {setting} to at most {min(short.values())} or add examples of those labels")
    rng = random.Random(seed)
    chosen = {id(ex) for label in sorted(groups) for ex in rng.sample(groups[label], k)}
    return [ex for ex in examples if id(ex) in chosen]
