"""A bounded memory of training examples for replay, and its JSON-lines file.

Two ways of choosing what stays when the memory is full:

* ``class-balanced``: every class seen so far gets an equal share of the memory (a class with
  fewer examples than its share leaves the rest to the others); a class keeps the examples it
  already had and fills up from the new experience in a seeded random order.
* ``reservoir``: a uniform random sample of every example seen (Vitter's algorithm R), so
  large experiences take more room than small ones.

The class of an example is its label (the first one for multi-label data) or, for a NER
sentence, its first entity type ("O" for a sentence without entities).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whet.data.examples import TaggedSentence, TextExample
from whet.errors import ModelError
from whet.io.atomic import write_text_atomic

MEMORY_FILE = "replay_memory.jsonl"


@dataclass
class ReplayMemory:
    size: int
    selection: str  # "class-balanced" or "reservoir"
    items: list[tuple[str, Any]] = field(default_factory=list)  # (experience name, example)
    seen: int = 0  # examples offered so far (reservoir sampling needs the count)

    def update(self, experience: str, examples: list[Any], seed: int) -> None:
        """Offer an experience's training examples to the memory."""
        # Seeded by the count so far: a resumed plan makes the same choices.
        rng = random.Random(f"{seed}-{self.seen}")
        if self.selection == "reservoir":
            for example in examples:
                self.seen += 1
                if len(self.items) < self.size:
                    self.items.append((experience, example))
                else:
                    slot = rng.randrange(self.seen)
                    if slot < self.size:
                        self.items[slot] = (experience, example)
            return
        self.seen += len(examples)
        fresh = [(experience, example) for example in examples]
        rng.shuffle(fresh)
        groups: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        for item in self.items + fresh:  # kept examples first, so a class keeps what it had
            groups[example_class(item[1])].append(item)
        quotas = balanced_quotas({key: len(items) for key, items in groups.items()}, self.size)
        self.items = [item for key in sorted(groups) for item in groups[key][:quotas[key]]]

    def class_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for _, example in self.items:
            counts[example_class(example)] += 1
        return dict(sorted(counts.items()))


def balanced_quotas(available: dict[str, int], size: int) -> dict[str, int]:
    """How many examples of each class to keep: equal shares of ``size``, water-filled so that a
    class with fewer examples than its share leaves the remainder to the larger classes."""
    quotas, left = {}, size
    ordered = sorted(available, key=lambda key: (available[key], key))
    for position, key in enumerate(ordered):
        share = left // (len(ordered) - position)
        quotas[key] = min(available[key], share)
        left -= quotas[key]
    return quotas


def example_class(example: Any) -> str:
    if isinstance(example, TaggedSentence):
        return next((tag[2:] for tag in example.tags if tag != "O"), "O")
    return example.labels[0] if example.labels else ""


def example_record(experience: str, example: Any) -> dict:
    if isinstance(example, TaggedSentence):
        return {"experience": experience, "tokens": example.tokens, "tags": example.tags}
    record = {"experience": experience, "text": example.text, "labels": example.labels}
    if example.text_pair is not None:
        record["text_pair"] = example.text_pair
    return record


def record_example(record: dict, source: str) -> tuple[str, Any]:
    if "tokens" in record:
        return record["experience"], TaggedSentence(tokens=record["tokens"], tags=record["tags"], source=source)
    return record["experience"], TextExample(text=record["text"], labels=record["labels"],
                                             text_pair=record.get("text_pair"), source=source)


def save_memory(directory: Path, memory: ReplayMemory) -> None:
    """One JSON object per line; the first line holds the memory's settings and count."""
    header = {"size": memory.size, "selection": memory.selection, "seen": memory.seen}
    lines = [json.dumps(header)] + [json.dumps(example_record(name, example), ensure_ascii=False)
                                    for name, example in memory.items]
    write_text_atomic(Path(directory) / MEMORY_FILE, "\n".join(lines) + "\n")


def load_memory(directory: Path, size: int, selection: str) -> ReplayMemory:
    """The memory saved in ``directory`` (an empty one if there is none), bounded by ``size``."""
    path = Path(directory) / MEMORY_FILE
    memory = ReplayMemory(size=size, selection=selection)
    if not path.is_file():
        return memory
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        memory.seen = int(json.loads(lines[0])["seen"])
        memory.items = [record_example(json.loads(line), f"{path}:{number}")
                        for number, line in enumerate(lines[1:], start=2) if line.strip()]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ModelError(f"{path} is not a replay memory written by whet ({err}); remove it to start with "
                         f"an empty memory") from None
    if len(memory.items) > size:
        # A smaller memory than the saved one: shrink it the way the selection would.
        if selection == "reservoir":
            memory.items = random.Random(memory.seen).sample(memory.items, size)
        else:
            memory.update("", [], seed=0)
    return memory
