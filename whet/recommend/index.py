"""The item index: each item's embedding in a faiss index, saved beside the encoder that made it.

Below ``exact_below`` items the index is exact (inner product over unit vectors = cosine);
above, an inverted-file index searches ``probe`` of its lists. Index ids are catalog positions,
so items are added (embedded from their text alone) and removed without retraining. The index
records the sha256 of the encoder's weights and their dimension; an index whose encoder differs
from the one beside it is refused at load, since its vectors would not be comparable.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from whet.errors import ModelError

INDEX_FILE = "items.faiss"


def encoder_fingerprint(encoder_dir: Path) -> str:
    """sha256 of the encoder's weight files (every ``*.safetensors`` under it, in path order)."""
    digest = hashlib.sha256()
    files = sorted(Path(encoder_dir).rglob("*.safetensors"))
    if not files:
        raise ModelError(f"{encoder_dir} holds no .safetensors weights; save the encoder again with whet recommend train")
    for file in files:
        digest.update(str(file.relative_to(encoder_dir)).encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def build_index(vectors: np.ndarray, positions: list[int], *, exact_below: int, lists: int | None,
                probe: int) -> Any:
    """A faiss index of ``vectors`` (items, dim) under ids ``positions``."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if len(vectors) < exact_below:
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    else:
        lists = lists or int(4 * np.sqrt(len(vectors)))
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        ivf.train(vectors)
        ivf.nprobe = probe
        # A hash table from id to place lets items be reconstructed (for explanations) and removed.
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
        index = ivf
    index.add_with_ids(vectors, np.asarray(positions, dtype=np.int64))
    return index


def is_exact(index: Any) -> bool:
    import faiss

    return isinstance(index, faiss.IndexIDMap2)


def add_vectors(index: Any, vectors: np.ndarray, positions: list[int]) -> None:
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(positions, dtype=np.int64))


def remove_positions(index: Any, positions: list[int]) -> int:
    return int(index.remove_ids(np.asarray(positions, dtype=np.int64)))


def item_vector(index: Any, position: int) -> np.ndarray:
    return index.reconstruct(int(position))


def search(index: Any, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, positions), each (queries, k); -1 positions where fewer than k items exist."""
    return index.search(np.ascontiguousarray(vectors, dtype=np.float32), min(k, index.ntotal))


def save_index(index: Any, path: Path) -> None:
    import faiss

    from whet.io.atomic import write_bytes_atomic

    write_bytes_atomic(path, faiss.serialize_index(index).tobytes())


class IndexOutOfStep(ModelError):
    """The index holds another number of items than the catalog lists as indexed."""

    def __init__(self, path: Path, held: int, listed: int) -> None:
        super().__init__(f"{path} holds {held} items but items.jsonl lists {listed} as indexed; rebuild it with "
                         f"whet recommend index")
        self.held, self.listed = held, listed


def load_index(path: Path, *, expected_fingerprint: str, recorded_fingerprint: str, dim: int,
               indexed: int) -> Any:
    """The index at ``path``, refused (with the reason) unless it was built by this encoder and
    holds the catalog's indexed items."""
    import faiss

    if not path.is_file():
        raise ModelError(f"{path} not found; a recommender model directory holds its item index")
    if recorded_fingerprint != expected_fingerprint:
        raise ModelError(f"{path} was built with other encoder weights (sha256 {recorded_fingerprint[:12]}, the encoder "
                         f"beside it is {expected_fingerprint[:12]}); rebuild it with whet recommend index")
    index = faiss.deserialize_index(np.fromfile(path, dtype=np.uint8))
    if index.d != dim:
        raise ModelError(f"{path} holds {index.d}-dimensional vectors but the encoder makes {dim}; rebuild it with "
                         f"whet recommend index")
    if index.ntotal != indexed:
        raise IndexOutOfStep(path, index.ntotal, indexed)
    return index
