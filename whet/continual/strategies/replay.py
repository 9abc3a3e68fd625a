"""Experience replay: a bounded memory of earlier examples is trained on with each new experience.

The memory (``whet.continual.memory``) is saved with every step's model as JSON lines, so a
later plan that starts from that model replays it too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from whet.continual.memory import ReplayMemory, load_memory, save_memory
from whet.continual.strategies.base import Step

log = logging.getLogger("whet")


class Replay:
    name = "replay"
    restarts = False

    def __init__(self, size: int, selection: str) -> None:
        self.memory = ReplayMemory(size=size, selection=selection)

    def load(self, directory: Path) -> None:
        self.memory = load_memory(directory, self.memory.size, self.memory.selection)

    def training_examples(self, step: Step) -> list[tuple[str, Any]]:
        if self.memory.items:
            log.info("replay: %d remembered examples from %d classes", len(self.memory.items),
                     len(self.memory.class_counts()))
        return list(self.memory.items)

    def after_experience(self, model: Any, step: Step) -> None:
        self.memory.update(step.experience.name, step.experience.train, step.seed)

    def save(self, directory: Path, model: Any) -> None:
        save_memory(directory, self.memory)


def build(plan: Any) -> Replay:
    return Replay(plan.strategy.replay.memory_size, plan.strategy.replay.selection)
