"""Cold start: a user with neither history nor interests is recommended the most popular items.

Popularity is how many training users have the item among their positives, counted at train time
for every model and saved as ``popularity.safetensors``. An item added later has popularity 0, so
it is recommended to new users only once the popular ones are used up (or excluded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from whet.recommend.data import Interactions

POPULARITY_FILE = "popularity.safetensors"


def popularity_counts(interactions: Interactions, items: int) -> np.ndarray:
    """(items,) how many users have each item among their positives."""
    counts = np.zeros(items, dtype=np.float64)
    for sequence in interactions.sequences.values():
        counts[list(set(sequence))] += 1
    return counts


def save_popularity(counts: np.ndarray, path: Path) -> None:
    from safetensors.numpy import save

    from whet.io.atomic import write_bytes_atomic

    write_bytes_atomic(path, save({"popularity": np.asarray(counts, dtype=np.float32)}))


def load_popularity(path: Path) -> np.ndarray | None:
    """The saved counts, or None for a model trained before they were saved."""
    from safetensors.numpy import load_file

    if not Path(path).is_file():
        return None
    return load_file(str(path))["popularity"].astype(np.float64)


def most_popular(counts: np.ndarray, recommendable: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(position, count) of the ``k`` most popular recommendable items, ties in catalog order.

    ``recommendable``: (catalog,) booleans; catalog positions past ``counts`` (items added
    after training) count 0.
    """
    padded = np.zeros(len(recommendable))
    padded[:min(len(counts), len(padded))] = counts[:len(padded)]
    order = np.argsort(-padded, kind="stable")
    return [(int(p), float(padded[p])) for p in order if recommendable[p]][:k]
