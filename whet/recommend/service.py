"""A recommender being served: recommending, and catalog changes saved to its model directory.

One lock covers both: faiss does not search an index while another thread adds to it, and a
change must reach the disk before the next request sees it. Every method blocks (the encoder
runs): the routes call them from worker threads.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whet.errors import DataError, ModelError
from whet.recommend.recommender import CATALOG_FILE, Recommendation, Recommender, load_recommender
from whet.recommend.index import INDEX_FILE


class DuplicateItems(DataError):
    """New items whose ids are indexed already, or given twice."""


class CatalogNotSaved(ModelError):
    """The model directory could not be written; the change was undone."""


@dataclass
class ServedRecommender:
    recommender: Recommender
    directory: Path
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, directory: Path) -> ServedRecommender:
        return cls(load_recommender(directory), Path(directory))

    def describe(self) -> dict[str, Any]:
        """What ``/v1/models`` shows of it."""
        recommender = self.recommender
        return {"items": len(recommender.catalog), "indexed": int(recommender.index.ntotal),
                "history_items": recommender.history_items, "ranker": recommender.ranker is not None,
                "reranker": recommender.reranker is not None}

    def recommend(self, *, user_id: str | None = None, history: list[str] | None = None, interests: str | None = None,
                  k: int = 10, exclude: list[str] | None = None,
                  diversity: float = 0.0) -> tuple[list[Recommendation], bool]:
        """The ``k`` best items, and whether the user had no history (a cold start: the most popular
        items, or those closest to ``interests``). An unknown user is a cold start; unknown item ids
        in ``history`` or ``exclude`` raise one DataError naming them all."""
        with self.lock:
            recommender = self.recommender
            unknown: list[str] = []

            def known(items: list[str] | None, source: str) -> list[int]:
                try:
                    return recommender.positions(list(items or []), source)
                except DataError as err:
                    unknown.append(str(err))
                    return []

            positions, excluded = known(history, "history"), set(known(exclude, "exclude"))
            if unknown:
                raise DataError("; ".join(unknown))
            seen: set[int] = set()
            case = recommender.user_case(user_id) if user_id is not None else None
            if case is not None:
                positions, seen = list(case.history), set(case.seen)
            recommended = recommender.recommend(positions, seen, k, exclude=excluded, interests=interests,
                                                diversity=diversity)
            return recommended, not positions

    def add_items(self, ids: list[str], texts: list[str], query_texts: list[str]) -> int:
        """Embed and index new items, then save the catalog; nothing changes when an id is indexed
        already or given twice (DuplicateItems names them all), nor when saving fails."""
        with self.lock:
            recommender = self.recommender
            catalog = recommender.catalog
            twice = [item for item, count in Counter(ids).items() if count > 1]
            indexed = [item for item in dict.fromkeys(ids)
                       if item in catalog.position and recommender.indexed[catalog.position[item]]]
            problems = ([f"items given twice: {_listed(twice)}"] if twice else []) + \
                       ([f"items indexed already: {_listed(indexed)} (remove them first to replace their text)"]
                        if indexed else [])
            if problems:
                raise DuplicateItems("; ".join(problems))
            # A removed item comes back with the new text; if saving fails, its old text returns
            # and the items new to the catalog leave it again.
            size = len(catalog)
            old_texts = {item: (catalog.texts[catalog.position[item]], catalog.query_texts[catalog.position[item]])
                         for item in ids if item in catalog.position}
            added = recommender.add_items(ids, texts, query_texts)
            try:
                self._save()
            except BaseException:
                recommender.remove_items(ids)
                for item, (text, query_text) in old_texts.items():
                    catalog.texts[catalog.position[item]], catalog.query_texts[catalog.position[item]] = text, query_text
                catalog.truncate(size)
                del recommender.indexed[size:]
                raise
            return added

    def remove_items(self, ids: list[str]) -> int:
        """Take items out of the index and save the catalog; nothing changes when an id is unknown
        or not indexed (one DataError names them all), nor when saving fails."""
        with self.lock:
            recommender = self.recommender
            catalog = recommender.catalog
            positions = recommender.positions(ids, "ids")
            removed_already = [item for item, p in zip(ids, positions) if not recommender.indexed[p]]
            if removed_already:
                raise DataError(f"ids not indexed (removed already): {_listed(removed_already)}")
            ids = list(dict.fromkeys(ids))
            removed = recommender.remove_items(ids)
            try:
                self._save()
            except BaseException:
                positions = [catalog.position[item] for item in ids]
                recommender.add_items(ids, [catalog.texts[p] for p in positions],
                                      [catalog.query_texts[p] for p in positions])
                raise
            return removed

    def _save(self) -> None:
        try:
            self.recommender.save_items(self.directory)
        except OSError as err:
            raise CatalogNotSaved(f"could not save the catalog to {self.directory} ({err.strerror or err}); "
                                  f"nothing was changed") from err


def _listed(items: list[str], shown: int = 10) -> str:
    named = ", ".join(f"'{item}'" for item in items[:shown])
    return named + (f" and {len(items) - shown} more" if len(items) > shown else "")


def check_recommender_directory(directory: Path) -> None:
    """Before the server starts: the files a recommender loads from are there."""
    missing = [name for name in ("encoder", CATALOG_FILE, INDEX_FILE) if not (Path(directory) / name).exists()]
    if missing:
        raise ModelError(f"{directory} is not a complete recommender model: {', '.join(missing)} missing; give the "
                         f"model directory whet recommend train wrote (RUN_DIR/model)")
