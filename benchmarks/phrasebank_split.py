"""Financial PhraseBank's ``sentence@label`` lines as whet data: the train/dev split the benchmarks share.

The shared data holds only the release's 80 % train split (``train.txt``, latin-1, one
``sentence@label`` per line, the label after the last ``@``). The benchmarks cut it once more into
train and dev, stratified by label with a fixed seed, keeping repeated sentences on one side, and
write both as JSON Lines (``{"text", "label"}``, UTF-8) into a folder outside the repository, with
the sentences alone (``train.txt``, ``dev.txt``, one a line) for masked-LM training. Run as a script
it writes that folder for the shipped configs (``configs/fin-adapt.yaml``, ``configs/fin-sentiment.yaml``):

    python benchmarks/phrasebank_split.py ../shared/data/fin_sentiment ../data/fin_sentiment
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

SPLIT_SEED = 42
DEV_SHARE = 0.15


def read_phrasebank(path: Path) -> list[tuple[str, str]]:
    """(sentence, label) of each non-empty line, split at the last ``@``."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        sentence, at, label = line.rpartition("@")
        if not at or not sentence.strip():
            raise SystemExit(f"{path}:{number}: expected 'sentence@label'")
        rows.append((sentence.strip(), label.strip()))
    return rows


def stratified_split(rows: list[tuple[str, str]], share: float = DEV_SHARE,
                     seed: int = SPLIT_SEED) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, dev): ``share`` of each label's sentences to dev, in file order; a repeated sentence
    goes to one side with all its lines, under the label of its first line."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, (sentence, _) in enumerate(rows):
        groups[sentence].append(index)
    by_label: dict[str, list[list[int]]] = defaultdict(list)
    for indices in groups.values():
        by_label[rows[indices[0]][1]].append(indices)
    rng = random.Random(seed)
    dev: set[int] = set()
    for label in sorted(by_label):
        label_groups = by_label[label]
        rng.shuffle(label_groups)
        wanted = round(share * sum(len(g) for g in label_groups))
        taken = 0
        for indices in label_groups:
            if taken >= wanted:
                break
            dev.update(indices)
            taken += len(indices)
    return ([row for i, row in enumerate(rows) if i not in dev], [row for i, row in enumerate(rows) if i in dev])


def write_jsonl(rows: list[tuple[str, str]], path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for sentence, label in rows:
            handle.write(json.dumps({"text": sentence, "label": label}) + "\n")
    return path


def write_text_lines(rows: list[tuple[str, str]], path: Path) -> Path:
    """The sentences alone, one a line: unlabelled text for masked-LM training."""
    path.write_text("".join(f"{sentence}\n" for sentence, _ in rows), encoding="utf-8")
    return path


def prepare_split(data: Path, out: Path) -> dict[str, Path]:
    """Split ``data/train.txt`` and write ``train.jsonl``, ``dev.jsonl`` (labelled) and ``train.txt``,
    ``dev.txt`` (sentences only) into ``out``."""
    rows = read_phrasebank(data / "train.txt")
    train, dev = stratified_split(rows)
    out.mkdir(parents=True, exist_ok=True)
    return {"train": write_jsonl(train, out / "train.jsonl"), "dev": write_jsonl(dev, out / "dev.jsonl"),
            "train_text": write_text_lines(train, out / "train.txt"),
            "dev_text": write_text_lines(dev, out / "dev.txt")}


def label_counts(path: Path) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for line in path.read_text(encoding="utf-8").splitlines():
        counts[json.loads(line)["label"]] += 1
    return dict(sorted(counts.items()))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python benchmarks/phrasebank_split.py FOLDER_WITH_TRAIN_TXT OUTPUT_FOLDER")
    written = prepare_split(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"train {label_counts(written['train'])}, dev {label_counts(written['dev'])}")
    print("wrote " + ", ".join(str(path) for path in written.values()))
