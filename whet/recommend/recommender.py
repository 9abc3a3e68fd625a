"""A saved recommender: the encoder, the catalog and the item index, and recommending with them.

The model directory::

    encoder/          the fine-tuned sentence encoder (sentence-transformers layout, safetensors)
    items.jsonl       the catalog: id, text, query_text, indexed (removed items stay, for histories)
    items.faiss       the item index (index ids are line numbers of items.jsonl)
    recommender.json  history_items, max_seq_length, the encoder's sha256 and dimension, index settings
    ranker.json       optional: the feature ranker's weights (whet.recommend.ranker)
    counts.safetensors  with it: the interaction counts its features read (popularity, co-occurrence, transitions)
    reranker/         optional: the cross-encoder re-ranker and its combination (whet.recommend.reranker)
    popularity.safetensors  how many training users took each item, for users with no history (whet.recommend.cold_start)
    users.jsonl       the training users' histories, so a user is recommended for by id (whet.recommend.users)

With a ranker, every item is scored by it (its features are not in the index); without, the
index searches the encoder's vectors. Each recommendation comes with the history items that most support it: those whose own
embeddings are closest to the recommended item's. A user may also be described by free text
(interests), the list diversified (whet.recommend.diversity), and a user with neither history nor
interests is recommended the most popular items.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from whet.errors import DataError, ModelError
from whet.recommend.baselines import ItemCounts, load_counts, save_counts
from whet.recommend.bi_encoder import user_text
from whet.recommend.cold_start import POPULARITY_FILE, load_popularity, most_popular, popularity_counts, save_popularity
from whet.recommend.data import Case, Catalog, Interactions
from whet.recommend.diversity import candidates_for, maximal_marginal_relevance
from whet.recommend.index import INDEX_FILE
from whet.recommend.ranker import RANKER_FILE, Ranker, feature_scorers, feature_scores
from whet.recommend.reranker import RERANKER_DIR, Reranker, load_reranker, save_reranker

log = logging.getLogger("whet")

SETTINGS_FILE = "recommender.json"
CATALOG_FILE = "items.jsonl"
SUPPORTING_ITEMS = 2
COUNTS_FILE = "counts.safetensors"


def _padded(scorer: Any, items: int) -> Any:
    """``scorer``'s rows widened with zeros to ``items`` columns."""
    def score(cases: list[Case]) -> np.ndarray:
        rows = scorer(cases)
        return np.pad(rows, ((0, 0), (0, items - rows.shape[1]))) if rows.shape[1] < items else rows

    return score


@dataclass
class Recommendation:
    item: str
    score: float
    text: str
    because: list[str]  # ids of the history items closest to this one, closest first


@dataclass
class Recommender:
    encoder: Any
    catalog: Catalog
    index: Any
    indexed: list[bool]
    history_items: int
    probe: int = 16
    settings: dict = field(default_factory=dict)
    ranker: Ranker | None = None  # with counts: the feature ranker over every item, instead of the index
    counts: ItemCounts | None = None
    recent: int = 5
    popularity: np.ndarray | None = None  # (items at training,) users who took each item: the cold start
    reranker: Reranker | None = None  # the cross-encoder over the first stage's top candidates
    model_dir: Path | None = None  # where the saved users are read from, on the first user_case
    _vectors: np.ndarray | None = field(default=None, repr=False)
    _users: dict[str, Case] | None = field(default=None, repr=False)

    def positions(self, items: list[str], source: str = "history") -> list[int]:
        """Catalog positions of ``items``; every unknown id is named (the first 10, then a count)."""
        unknown = list(dict.fromkeys(item for item in items if item not in self.catalog.position))
        if len(unknown) == 1:
            raise DataError(f"{source}: item '{unknown[0]}' is not in the catalog ({len(self.catalog)} items); "
                            f"add it with whet recommend add-items or check the id")
        if unknown:
            named = ", ".join(f"'{item}'" for item in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise DataError(f"{source}: items {named}{more} are not in the catalog ({len(self.catalog)} items); "
                            f"add them with whet recommend add-items or check the ids")
        return [self.catalog.position[item] for item in items]

    def user_case(self, user_id: str) -> Case | None:
        """The user's saved training history and everything they interacted with (None: a user the
        model was not trained on)."""
        if self._users is None:
            from whet.recommend.users import USERS_FILE, load_users

            users = load_users(Path(self.model_dir or ".") / USERS_FILE, self.catalog)
            if users is None:
                raise ModelError(f"{self.model_dir} holds no saved users ({USERS_FILE}: models trained before it "
                                 f"was saved); retrain it, or give the config whose interactions name the user")
            self._users = users
        case = self._users.get(user_id)
        return None if case is None else Case(case.user, list(case.history), set(case.seen))

    def user_vectors(self, histories: list[list[int]], interests: list[str | None] | None = None,
                     batch_size: int = 64) -> np.ndarray:
        """(users, dim) unit vectors of the users' recent items, as one text each. A user with
        ``interests`` (free text) gets the mean of its unit vector and the history's, renormalised,
        or the interests' alone when the history is empty."""
        from whet.models.sentence_model import embed, unit_rows

        vectors = embed(self.encoder, [user_text(self.catalog, h, self.history_items) for h in histories], batch_size)
        described = [row for row, text in enumerate(interests or []) if text]
        if described:
            said = unit_rows(embed(self.encoder, [interests[row] for row in described], batch_size))  # (described, dim)
            for row, vector in zip(described, said):
                vectors[row] = unit_rows(unit_rows(vectors[row]) + vector) if histories[row] else vector
        return vectors

    def item_vectors(self) -> np.ndarray:
        """(catalog, dim) vectors of the indexed items; zero rows for removed ones."""
        from whet.recommend.index import item_vector

        matrix = np.zeros((len(self.catalog), self.index.d), dtype=np.float32)
        for position, indexed in enumerate(self.indexed):
            if indexed:
                matrix[position] = item_vector(self.index, position)
        return matrix

    def scores(self, cases: list[Case], vectors: np.ndarray | None = None) -> np.ndarray:
        """(cases, items) scores over the whole catalog: the cosine of user (``vectors``, default: the
        cases' histories) and item, or the ranker's combination of it with the count features;
        removed items score -inf."""
        if self._vectors is None:
            self._vectors = self.item_vectors()
        users = self.user_vectors([case.history for case in cases]) if vectors is None else vectors
        cosine = users @ self._vectors.T
        if self.ranker is not None:
            categories = self.catalog.categories if "category_affinity" in self.ranker.names else None
            scorers = feature_scorers(lambda asked: cosine, self.counts, self.recent, categories)
            # items added after training have no counts: zero, as for an item nobody took
            scorers = {name: scorer if name == "encoder" else _padded(scorer, len(self.catalog))
                       for name, scorer in scorers.items()}
            ranked = self.ranker.score(feature_scores(scorers, cases))
            # A user known only by interests has no items to count from: the cosine alone.
            no_history = [row for row, case in enumerate(cases) if not case.history]
            ranked[no_history] = cosine[no_history]
            cosine = ranked
        cosine[:, ~np.asarray(self.indexed)] = -np.inf
        if self.reranker is not None:
            cosine = self.reranker.rerank(self.catalog, cases, cosine)
        return cosine

    def recommend(self, history: list[int], seen: set[int] | None = None, k: int = 10, *,
                  exclude: set[int] | None = None, interests: str | None = None,
                  diversity: float = 0.0) -> list[Recommendation]:
        """The ``k`` best items for a user with these liked items (catalog positions, oldest first).

        Args:
            seen, exclude: items never recommended (besides the history).
            interests: free text describing what the user likes, with or without a history.
            diversity: Maximal Marginal Relevance's trade-off in [0, 1]; 0 is pure relevance.

        With neither history nor interests, the most popular items (cold start).
        """
        if not 0.0 <= diversity <= 1.0:
            raise DataError(f"diversity must be between 0 (pure relevance) and 1, not {diversity}")
        interests = interests.strip() if interests else None
        case = Case("", list(history), set(seen or ()) | set(history) | set(exclude or ()))
        if not history and not interests:
            return self.cold_start(case.seen, k)
        picked = self._top([case], self.user_vectors([case.history], [interests]), candidates_for(k) if diversity else k)[0]
        if diversity and picked:
            from whet.recommend.index import item_vector

            vectors = np.stack([item_vector(self.index, p) for p, _ in picked])  # (candidates, dim)
            order = maximal_marginal_relevance(np.array([s for _, s in picked]), vectors, k, diversity)
            picked = [picked[i] for i in order]
        return self._recommendations(case, picked)

    def cold_start(self, blocked: set[int], k: int) -> list[Recommendation]:
        """The ``k`` most popular indexed items not in ``blocked``; their score is the popularity."""
        if self.popularity is None:
            raise ModelError(f"{self.model_dir} was saved without item popularity ({POPULARITY_FILE}), which a user "
                             f"with no history needs; retrain it, or give a history or interests")
        recommendable = np.asarray(self.indexed, dtype=bool).copy()
        recommendable[[p for p in blocked if p < len(recommendable)]] = False
        return [Recommendation(self.catalog.ids[p], count, self.catalog.texts[p], [])
                for p, count in most_popular(self.popularity, recommendable, k)]

    def recommend_many(self, cases: list[Case], k: int = 10) -> list[list[Recommendation]]:
        """Through the index; with a ranker, by scoring every item (its features are not in the index)."""
        if not cases:
            return []
        picked_rows = self._top(cases, self.user_vectors([case.history for case in cases]), k)
        return [self._recommendations(case, picked) for case, picked in zip(cases, picked_rows)]

    def _recommendations(self, case: Case, picked: list[tuple[int, float]]) -> list[Recommendation]:
        return [Recommendation(self.catalog.ids[p], s, self.catalog.texts[p], self.supporting_items(p, case.history))
                for p, s in picked]

    def _top(self, cases: list[Case], vectors: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """Each case's ``k`` best unseen items as (position, score), best first, for user ``vectors``."""
        from whet.recommend.index import search

        if self.ranker is not None or self.reranker is not None:
            picked_rows = []
            for case, row in zip(cases, self.scores(cases, vectors)):
                row[[item for item in case.seen if item < len(row)]] = -np.inf
                top = np.argsort(-row)[:k]
                picked_rows.append([(int(p), float(row[p])) for p in top if np.isfinite(row[p])])
        else:
            widest = k + max(len(case.seen) for case in cases)
            scores, found = search(self.index, vectors, widest)
            picked_rows = [[(int(p), float(s)) for p, s in zip(row, row_scores) if p >= 0 and int(p) not in case.seen][:k]
                           for case, row_scores, row in zip(cases, scores, found)]
        return picked_rows

    def supporting_items(self, position: int, history: list[int]) -> list[str]:
        from whet.recommend.index import item_vector

        recent = [h for h in history[-self.history_items * 4:] if self.indexed[h]]
        if not recent:
            return []
        target = item_vector(self.index, position)
        similarity = [float(item_vector(self.index, h) @ target) for h in recent]
        order = np.argsort(similarity)[::-1][:SUPPORTING_ITEMS]
        return [self.catalog.ids[recent[i]] for i in order]

    def add_items(self, ids: list[str], texts: list[str], query_texts: list[str] | None = None) -> int:
        """Embed new items from their text and index them (an id already indexed is refused)."""
        from whet.models.sentence_model import embed
        from whet.recommend.index import add_vectors

        query_texts = query_texts or texts
        again = [item for item in ids if item in self.catalog.position and self.indexed[self.catalog.position[item]]]
        if again:
            raise DataError(f"item '{again[0]}' is already indexed ({len(again)} of the new items are); remove it first "
                            f"to replace its text")
        positions = []
        for item, text, query in zip(ids, texts, query_texts):
            if item in self.catalog.position:  # a removed item comes back with its new text
                position = self.catalog.position[item]
                self.catalog.texts[position], self.catalog.query_texts[position] = text, query
            else:
                position = len(self.catalog)
                self.catalog.ids.append(item)
                self.catalog.texts.append(text)
                self.catalog.query_texts.append(query)
                if self.catalog.categories is not None:
                    self.catalog.categories.append(())  # a new item's categories are not known
                self.catalog.position[item] = position
                self.indexed.append(False)
            self.indexed[position] = True
            positions.append(position)
        add_vectors(self.index, embed(self.encoder, texts), positions)
        self._vectors = None
        return len(positions)

    def remove_items(self, ids: list[str]) -> int:
        from whet.recommend.index import remove_positions

        positions = self.positions(ids, "remove")
        for position in positions:
            self.indexed[position] = False
        self._vectors = None
        return remove_positions(self.index, positions)

    def save_items(self, model_dir: Path) -> None:
        """Write the catalog and the index (after adding or removing items)."""
        from whet.io.atomic import write_text_atomic
        from whet.recommend.index import save_index

        rows = [{"id": i, "text": t, "query_text": q, "indexed": x}
                for i, t, q, x in zip(self.catalog.ids, self.catalog.texts, self.catalog.query_texts, self.indexed)]
        for row, found in zip(rows, self.catalog.categories or ()):
            row["categories"] = list(found)
        lines = [json.dumps(row, ensure_ascii=False) for row in rows]
        # The index first, then items.jsonl, whose write commits the change: after a crash between
        # the two, load_recommender rebuilds the index from items.jsonl.
        save_index(self.index, Path(model_dir) / INDEX_FILE)
        write_text_atomic(Path(model_dir) / CATALOG_FILE, "\n".join(lines) + "\n")


def save_recommender(model_dir: Path, encoder: Any, catalog: Catalog, *, history_items: int, max_seq_length: int,
                     exact_below: int, lists: int | None, probe: int, ranker: Ranker | None = None,
                     counts: ItemCounts | None = None, recent: int = 5, extra: dict | None = None,
                     interactions: Interactions | None = None, reranker: Reranker | None = None) -> Recommender:
    """Save the encoder, embed and index the catalog, and write the settings (into ``model_dir``);
    with a ranker, also its weights and the counts its features read; with the training
    ``interactions``, the items' popularity and every user's history."""
    from whet.io.atomic import write_json_atomic
    from whet.models.pretrained import quiet_transformers
    from whet.models.sentence_model import embed
    from whet.recommend.index import build_index, encoder_fingerprint, is_exact

    model_dir = Path(model_dir)
    with quiet_transformers():
        encoder.save(str(model_dir / "encoder"), safe_serialization=True)
    vectors = embed(encoder, catalog.texts)  # (items, dim)
    index = build_index(vectors, list(range(len(catalog))), exact_below=exact_below, lists=lists, probe=probe)
    recommender = Recommender(encoder, catalog, index, [True] * len(catalog), history_items, probe,
                              ranker=ranker, counts=counts, recent=recent, model_dir=model_dir)
    recommender.save_items(model_dir)
    if interactions is not None:
        from whet.recommend.users import USERS_FILE, save_users

        recommender.popularity = popularity_counts(interactions, len(catalog))
        save_popularity(recommender.popularity, model_dir / POPULARITY_FILE)
        save_users(model_dir / USERS_FILE, interactions, catalog)
    if ranker is not None:
        write_json_atomic(model_dir / RANKER_FILE, {**ranker.as_dict(), "recent": recent})
        save_counts(counts, model_dir / COUNTS_FILE)
    if reranker is not None:
        save_reranker(model_dir / RERANKER_DIR, reranker)
        recommender.reranker = reranker
    recommender.settings = {"history_items": history_items, "max_seq_length": max_seq_length,
                            "encoder_sha256": encoder_fingerprint(model_dir / "encoder"), "dim": int(vectors.shape[1]),
                            "index": "exact" if is_exact(index) else "ivf", "probe": probe, **(extra or {})}
    write_json_atomic(model_dir / SETTINGS_FILE, recommender.settings)
    return recommender


def load_recommender(model_dir: str | Path) -> Recommender:
    """A saved recommender; its index is refused if another encoder built it."""
    from whet.models.sentence_model import load_sentence_encoder
    from whet.recommend.index import IndexOutOfStep, encoder_fingerprint, load_index

    model_dir = Path(model_dir)
    settings_file = model_dir / SETTINGS_FILE
    if not settings_file.is_file():
        raise ModelError(f"{model_dir} is not a recommender model (no {SETTINGS_FILE}); give the model directory "
                         f"that whet recommend train wrote (RUN_DIR/model)")
    settings = json.loads(settings_file.read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (model_dir / CATALOG_FILE).read_text(encoding="utf-8").splitlines() if line]
    catalog = Catalog([r["id"] for r in rows], [r["text"] for r in rows], [r["query_text"] for r in rows],
                      [tuple(r.get("categories", ())) for r in rows] if any("categories" in r for r in rows) else None)
    indexed = [bool(r["indexed"]) for r in rows]
    encoder = load_sentence_encoder(str(model_dir / "encoder"))
    encoder.max_seq_length = settings["max_seq_length"]
    fingerprint = encoder_fingerprint(model_dir / "encoder")
    try:
        index = load_index(model_dir / INDEX_FILE, expected_fingerprint=fingerprint,
                           recorded_fingerprint=settings["encoder_sha256"],
                           dim=encoder.get_embedding_dimension(), indexed=sum(indexed))
    except IndexOutOfStep as out_of_step:
        # A catalog change writes the index, then items.jsonl, which commits it: a crash between the
        # two leaves the index one change ahead of what was acknowledged. items.jsonl is the truth.
        log.warning("%s holds %d items, items.jsonl lists %d: a catalog change was interrupted; rebuilding the "
                    "index from items.jsonl", INDEX_FILE, out_of_step.held, out_of_step.listed)
        rebuild_index(model_dir)
        index = load_index(model_dir / INDEX_FILE, expected_fingerprint=fingerprint, recorded_fingerprint=fingerprint,
                           dim=encoder.get_embedding_dimension(), indexed=sum(indexed))
    if hasattr(index, "nprobe"):
        index.nprobe = settings["probe"]  # faiss does not save it
    recommender = Recommender(encoder, catalog, index, indexed, settings["history_items"], settings["probe"], settings,
                              popularity=load_popularity(model_dir / POPULARITY_FILE), model_dir=model_dir)
    if (model_dir / RANKER_FILE).is_file():
        saved = json.loads((model_dir / RANKER_FILE).read_text(encoding="utf-8"))
        recommender.ranker, recommender.recent = Ranker.from_dict(saved), saved["recent"]
        recommender.counts = load_counts(model_dir / COUNTS_FILE)
        if recommender.popularity is None:  # saved before the popularity file: the ranker's counts hold it
            recommender.popularity = recommender.counts.popularity
    if (model_dir / RERANKER_DIR).is_dir():
        recommender.reranker = load_reranker(model_dir / RERANKER_DIR)
    return recommender


def rebuild_index(model_dir: str | Path) -> int:
    """Embed the catalog's indexed items with the encoder in ``model_dir`` and write a new index."""
    from whet.io.atomic import write_json_atomic
    from whet.models.sentence_model import embed, load_sentence_encoder
    from whet.recommend.index import build_index, encoder_fingerprint, save_index

    model_dir = Path(model_dir)
    settings = json.loads((model_dir / SETTINGS_FILE).read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (model_dir / CATALOG_FILE).read_text(encoding="utf-8").splitlines() if line]
    encoder = load_sentence_encoder(str(model_dir / "encoder"))
    encoder.max_seq_length = settings["max_seq_length"]
    positions = [i for i, row in enumerate(rows) if row["indexed"]]
    vectors = embed(encoder, [rows[i]["text"] for i in positions])
    exact_below = len(positions) + 1 if settings["index"] == "exact" else 1
    index = build_index(vectors, positions, exact_below=exact_below, lists=None, probe=settings["probe"])
    save_index(index, model_dir / INDEX_FILE)
    settings.update(encoder_sha256=encoder_fingerprint(model_dir / "encoder"), dim=int(vectors.shape[1]))
    write_json_atomic(model_dir / SETTINGS_FILE, settings)
    return len(positions)


def evaluate_recommender(recommender: Recommender, data: Any) -> dict[str, float]:
    """Recall@10, NDCG@10 and MRR of ``recommender`` on the dev targets of a ``RecommendData``
    section (read against the model's own catalog); removed items are never recommended."""
    from whet.recommend.data import load_recommend_data
    from whet.recommend.evaluation import evaluate_scores

    _, _, dev = load_recommend_data(data, recommender.catalog)
    return evaluate_scores(recommender.scores, dev)


def predict_case(recommender: Recommender, *, user: str | None, history: str | None,
                 config: Path | None) -> tuple[Case, str | None]:
    """The case ``whet recommend predict`` recommends for, and a note when the user is unknown:
    a comma-separated list of item ids (may be empty), or a user of the model's saved users (of the
    config's interactions with ``config``); an unknown user, or neither, has an empty history."""
    if history is not None:
        items = recommender.positions([item.strip() for item in history.split(",") if item.strip()], "--history")
        return Case("", items, set(items)), None
    if user is None:
        return Case("", [], set()), None
    if config is None:
        case = recommender.user_case(user)
        where = "the model's training users"
    else:
        from whet.recommend.data import load_recommend_data
        from whet.recommend.settings import load_recommend_config

        settings = load_recommend_config(config).data.model_copy(update={"dev": None})
        _, interactions, _ = load_recommend_data(settings, recommender.catalog)
        case = (Case(user, interactions.sequences[user], interactions.seen[user]) if user in interactions.seen
                else None)
        where = str(settings.interactions)
    if case is None:
        return Case(user, [], set()), f"user {user!r} is not among {where}; recommending as for a new user"
    return case, None
