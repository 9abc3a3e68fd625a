"""Joint training: every step trains the plan's starting model again on all the data seen so far.

Not a continual method (it keeps every example and retrains from the start) but the upper
reference: the final step is ordinary training on the union of the experiences.
"""

from __future__ import annotations

from typing import Any

from whet.continual.strategies.base import Step


class Joint:
    name = "joint"
    restarts = True
    # Ordinary training on the union also chooses its best checkpoint on the union's dev sets:
    # the current experience's alone could keep one that has not learned the earlier classes yet.
    selects_on_every_dev = True

    def training_examples(self, step: Step) -> list[tuple[str, Any]]:
        return [(earlier.name, example) for earlier in step.earlier for example in earlier.train]


def build(plan: Any) -> Joint:
    return Joint()
