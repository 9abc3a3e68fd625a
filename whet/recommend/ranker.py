"""The final ranker: the bi-encoder's score combined with popularity and co-occurrence features.

A logistic regression (scikit-learn) learns, on each user's last training step, how much each
feature is worth: the target item against items drawn at random and then from the top of its own
previous round's ranking, compared in pairs. Its decision function is linear in the features, so every item of the catalog
is scored with it directly; there is no candidate stage to miss the target.

The statistics the features count must not know the step the ranker learns from: the caller
builds them from the interactions without each user's last item (``without_last_items``), and
the bi-encoder is trained on the same, so none of its scores is inflated by memorising the target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from whet.recommend.baselines import (ItemCounts, category_affinity, cooccurrence, popularity, recent_transitions,
                                      similarity, transitions)
from whet.recommend.data import Case, Interactions

Scorer = Callable[[list[Case]], np.ndarray]
RANKER_FILE = "ranker.json"
# Counts are skewed (a few items are taken by thousands): the ranker sees their logarithm.
COUNT_FEATURES = ("cooccurrence", "similarity", "transitions", "recent_transitions", "popularity")


def without_last_items(interactions: Interactions) -> tuple[Interactions, list[Case]]:
    """The interactions less each user's last positive, and the cases that predict it (users
    with at least three positives, so a history of two remains)."""
    sequences, seen, cases = {}, {}, []
    for user, items in interactions.sequences.items():
        if len(items) >= 3:
            sequences[user], last = items[:-1], items[-1]
            seen[user] = interactions.seen[user] - {last} | set(items[:-1])
            cases.append(Case(user, items[:-1], seen[user], last))
        else:
            sequences[user], seen[user] = items, interactions.seen[user]
    return Interactions(sequences, seen), cases


def feature_scorers(encoder_scores: Scorer, counts: ItemCounts, recent: int,
                    categories: list[tuple[str, ...]] | None = None) -> dict[str, Scorer]:
    """The ranker's features, by name: the bi-encoder's cosine, the counts of ``counts`` and, with
    the items' ``categories``, the user's affinity to each candidate's."""
    scorers = {"encoder": encoder_scores, "cooccurrence": cooccurrence(counts, recent),
               "similarity": similarity(counts, recent), "transitions": transitions(counts),
               "recent_transitions": recent_transitions(counts, recent), "popularity": popularity(counts)}
    if categories is not None:
        scorers["category_affinity"] = category_affinity(categories, recent)
    return scorers


def feature_scores(scorers: dict[str, Scorer], cases: list[Case]) -> np.ndarray:
    """(features, cases, items) of the scorers' values, counts as log(1 + count)."""
    return np.stack([np.log1p(np.maximum(scorer(cases), 0)) if name in COUNT_FEATURES else scorer(cases)
                     for name, scorer in scorers.items()])


@dataclass
class Ranker:
    names: list[str]
    mean: np.ndarray  # (features,)
    scale: np.ndarray
    weights: np.ndarray

    def score(self, features: np.ndarray) -> np.ndarray:
        """(cases, items) scores from (features, cases, items)."""
        standard = (features - self.mean[:, None, None]) / self.scale[:, None, None]
        return np.tensordot(self.weights, standard, axes=1)

    def as_dict(self) -> dict:
        return {"features": self.names, "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist()}

    @classmethod
    def from_dict(cls, saved: dict) -> Ranker:
        return cls(list(saved["features"]), np.asarray(saved["mean"]), np.asarray(saved["scale"]),
                   np.asarray(saved["weights"]))


def pairwise_ranker(names: list[str], differences: np.ndarray, seed: int) -> Ranker:
    """A linear ranker from (pairs, features) differences, target minus negative: logistic
    regression (scikit-learn) of which side of each pair is the target, on standardised features."""
    from sklearn.linear_model import LogisticRegression

    scale = differences.std(axis=0) + 1e-9
    # Each pair both ways round, so the two classes balance and no intercept is needed.
    both = np.concatenate([differences / scale, -differences / scale])
    labels = np.concatenate([np.ones(len(differences)), np.zeros(len(differences))])
    model = LogisticRegression(fit_intercept=False, max_iter=1000, random_state=seed).fit(both, labels)
    return Ranker(list(names), np.zeros(len(names)), scale, model.coef_[0].astype(np.float64))


def fit_ranker(names: list[str], features: np.ndarray, cases: list[Case], *, rounds: int = 3,
               random_items: int = 30, top_items: int = 20, seed: int = 0) -> Ranker:
    """Pairwise logistic regression (RankNet's objective, linear) of each target against negatives,
    in rounds: first ``random_items`` items at random, then each round adds the ``top_items`` the
    last round's ranker puts highest (never an item the user has seen). The round whose ranker
    ranks the targets best (MRR over these same cases) is kept.

    Negatives from the top of one feature's own ranking would teach that feature a negative weight
    (they beat the target on it by construction); the current ranker's top items are the
    competitors the next one must learn to put below the target.
    """
    from whet.recommend.evaluation import target_ranks

    rng = np.random.default_rng(seed)
    blocked = [case.seen | {case.target} for case in cases]
    negatives = [{int(i) for i in rng.integers(0, features.shape[2], size=random_items)} - block for block in blocked]
    best, best_mrr = None, -1.0
    for _ in range(rounds):
        differences = np.asarray([features[:, c, case.target] - features[:, c, i]
                                  for c, case in enumerate(cases) for i in sorted(negatives[c])])  # (pairs, features)
        ranker = pairwise_ranker(names, differences, seed)
        scores = ranker.score(features)  # (cases, items)
        mrr = float((1.0 / target_ranks(scores, cases)).mean())
        if mrr > best_mrr:
            best, best_mrr = ranker, mrr
        for c, block in enumerate(blocked):
            order = np.argsort(-scores[c])[:top_items + len(block)]
            negatives[c] |= {int(i) for i in order if int(i) not in block}
    return best
