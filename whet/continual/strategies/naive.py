"""Naive sequential fine-tuning: each experience is trained on its own data, nothing more.

The baseline that forgets; every other strategy is measured against it.
"""

from __future__ import annotations

from typing import Any


class Naive:
    name = "naive"
    restarts = False


def build(plan: Any) -> Naive:
    return Naive()
