"""Tiny generated experiences for continual-learning tests: each label has its own keywords, so
a tiny random model learns them in a few steps."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.conftest import write_config

FILLER = "the a my one this that some please now today here there".split()
KEYWORDS = {
    "fruit": ["apple", "banana", "cherry"], "tool": ["hammer", "drill", "wrench"],
    "animal": ["horse", "rabbit", "tiger"], "color": ["purple", "orange", "yellow"],
    "city": ["paris", "london", "berlin"], "music": ["guitar", "piano", "violin"],
}
NAMES = {"PER": ["maria", "john", "alice", "peter"], "LOC": ["paris", "london", "berlin", "madrid"],
         "ORG": ["google", "microsoft", "amazon", "intel"]}


def text_for(label: str, rng: random.Random) -> str:
    words = [rng.choice(KEYWORDS[label]) for _ in range(rng.randint(2, 4))]
    words.insert(rng.randint(0, len(words)), rng.choice(FILLER))
    return " ".join(words)


def write_classification(path: Path, labels: list[str], per_label: int, seed: int) -> Path:
    rng = random.Random(seed)
    rows = [{"text": text_for(label, rng), "label": label} for label in labels for _ in range(per_label)]
    rng.shuffle(rows)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def write_ner(path: Path, types: list[str], sentences: int, seed: int) -> Path:
    rng = random.Random(seed)
    lines = []
    for _ in range(sentences):
        kind = rng.choice(types)
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 4))]
        at = rng.randint(0, len(words))
        for i, word in enumerate(words[:at] + [rng.choice(NAMES[kind])] + words[at:]):
            lines.append(f"{word} {'B-' + kind if i == at else 'O'}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_plan(tmp_path: Path, model: Path, experiences: dict[str, list[str]], *, name: str = "plan",
               task: str = "sequence-classification", scenario: str = "class-incremental", strategy=None,
               per_label: int = 12, test: bool = False, **sections) -> Path:
    """A plan over generated experiences (label lists per experience name); returns its path."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    entries = []
    for seed, (experience, labels) in enumerate(experiences.items()):
        entry = {"name": experience}
        for split, count in (("train", per_label), ("dev", 4), ("test", 4)):
            if split == "test" and not test:
                continue
            path = data_dir / f"{experience}-{split}.{'conll' if task == 'token-classification' else 'jsonl'}"
            if task == "token-classification":
                write_ner(path, labels, count * len(labels), seed * 10 + len(split))
            else:
                write_classification(path, labels, count, seed * 10 + len(split))
            entry[split] = str(path)
        entries.append(entry)
    raw = {"task": task, "model": str(model), "scenario": scenario,
           "strategy": strategy or {"name": "naive"},
           "training": {"epochs": 5, "lr": 5e-3, "batch_size": 8, "log_every": 1, "seed": 3, "warmup_ratio": 0.0},
           "experiences": entries, "output": {"dir": str(tmp_path / name)}}
    return write_config(tmp_path, name, raw, sections)
