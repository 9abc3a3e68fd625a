"""``whet recommend train``: fine-tune the bi-encoder on users' histories, index the catalog, evaluate.

In dependency order: the catalog first (the interactions are checked against it), then the
training pairs (they need the catalog's texts), the encoder (mining negatives needs it
untuned), the fine-tuning, the optional ranker (its encoder feature is the tuned encoder), and
last the index (it needs the tuned encoder's item vectors).
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any

from whet.errors import DataError, WhetError
from whet.recommend.data import Case, Catalog, Interactions
from whet.recommend.settings import RecommendConfig, RecommendReranker, RecommendTraining

log = logging.getLogger("whet")
CANDIDATE_DRAWS = 5


def train_recommender(config: RecommendConfig) -> dict:
    """Train, save and evaluate the recommender ``config`` describes; return the run's figures."""
    import yaml
    from transformers import set_seed

    from whet.io.atomic import atomic_directory, existing_directory, write_json_atomic, write_text_atomic
    from whet.models.sentence_model import load_sentence_encoder
    from whet.recommend.baselines import count_items, embedding
    from whet.recommend.bi_encoder import sample_cases
    from whet.recommend.data import load_recommend_data, training_cases
    from whet.recommend.evaluation import evaluate_scores
    from whet.recommend.ranker import feature_scorers, feature_scores, fit_ranker, without_last_items
    from whet.recommend.recommender import save_recommender

    run_dir = Path(config.output.dir)
    if existing_directory(run_dir / "model") is not None:
        raise WhetError(f"{run_dir} already holds a model; choose another output.dir (--set output.dir=...)")
    training, model = config.training, config.model
    set_seed(training.seed)
    catalog, interactions, dev = load_recommend_data(config.data)
    # With a ranker or a re-ranker, each user's last step is kept from the bi-encoder (and the
    # cross-encoder) for the ranker and the re-ranker's combination to learn from.
    holds_out = config.ranker.features or config.reranker.enabled
    earlier, ranker_cases = without_last_items(interactions) if holds_out else (interactions, [])
    cases = sample_cases(training_cases(earlier), training.max_pairs, training.seed)
    if not cases:
        raise DataError(f"{config.data.interactions}: no user has two positives, so there is no (history -> next item) "
                        f"pair to train on; lower data.min_rating or add interactions")
    log.info("recommend: %d items, %d users, %d training pairs, %d dev cases", len(catalog),
             len(interactions.sequences), len(cases), len(dev))

    encoder = load_sentence_encoder(model.base)
    encoder.max_seq_length = model.max_seq_length
    seconds, state = train_bi_encoder(encoder, catalog, cases, training, model.history_items)
    log.info("recommend: %d pairs trained in %.1fs", len(cases), seconds)
    figures = {"train_seconds": round(seconds, 1), "pairs": len(cases), "steps": state.step}

    if holds_out and not ranker_cases:
        raise DataError(f"{config.data.interactions}: no user has three positives, so the ranker and the re-ranker "
                        f"have no held-out step to learn from; set ranker.features and reranker.enabled to false")
    ranker = counts = None
    first_stage = embedding(encoder, catalog, model.history_items)  # the bi-encoder's cosine
    if config.ranker.features:
        fit_cases = sample_cases(ranker_cases, config.ranker.users, training.seed)
        scorers = feature_scorers(first_stage, count_items(earlier, len(catalog)), config.ranker.recent,
                                  catalog.categories)
        ranker = fit_ranker(list(scorers), feature_scores(scorers, fit_cases), fit_cases, seed=training.seed)
        figures["ranker"] = dict(zip(ranker.names, ranker.weights.round(4).tolist()))
        counts = count_items(interactions, len(catalog))  # recommending reads every interaction
        first_stage = lambda cases: ranker.score(feature_scores(scorers, cases))  # noqa: E731
    reranker = None
    if config.reranker.enabled:
        reranker, figures["reranker"] = train_reranker(encoder, catalog, earlier, ranker_cases, first_stage, config)
    with atomic_directory(run_dir / "model") as tmp:
        recommender = save_recommender(tmp, encoder, catalog, history_items=model.history_items,
                                       max_seq_length=model.max_seq_length, exact_below=config.index.exact_below,
                                       lists=config.index.lists, probe=config.index.probe, ranker=ranker,
                                       counts=counts, recent=config.ranker.recent, reranker=reranker, extra=figures,
                                       interactions=interactions)
    if dev:
        figures["dev"] = evaluate_scores(recommender.scores, dev)
        log.info("recommend: dev %s", " ".join(f"{k} {v:.4f}" for k, v in figures["dev"].items()))
    write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    write_json_atomic(run_dir / "metrics.json", figures)
    write_json_atomic(run_dir / "history.json", state.history)
    return figures


def train_bi_encoder(encoder: Any, catalog: Catalog, cases: list[Case], training: RecommendTraining,
                     history_items: int) -> tuple[float, Any]:
    """Fine-tune ``encoder`` on (user text -> next item text) for ``cases``, with mined negatives
    if ``training.hard_negatives``; return the seconds it took and the loop state (loss history)."""
    from whet.models.sentence_model import embed
    from whet.recommend.bi_encoder import TextRows, fine_tune, mine_negatives, user_text
    from whet.training.loop import LoopState

    anchors = [user_text(catalog, case.history, history_items) for case in cases]
    columns = {"anchor": anchors, "positive": [catalog.texts[case.target] for case in cases]}
    started = time.perf_counter()
    if training.hard_negatives:
        negatives = mine_negatives(embed(encoder, anchors), embed(encoder, catalog.texts), cases,
                                   count=training.hard_negatives, ranks=training.hard_negative_ranks,
                                   seed=training.seed)
        rng = random.Random(training.seed)
        for n in range(training.hard_negatives):
            # A user with too few candidates left gets a random item instead.
            columns[f"negative_{n + 1}"] = [catalog.texts[found[n] if n < len(found) else rng.randrange(len(catalog))]
                                            for found in negatives]
    state = LoopState()
    fine_tune(encoder, TextRows(columns), loss=training.loss, batch_size=training.batch_size,
              mini_batch_size=training.mini_batch_size, scale=training.scale, epochs=training.epochs, lr=training.lr,
              warmup_ratio=training.warmup_ratio, seed=training.seed, log_every=training.log_every, state=state)
    return time.perf_counter() - started, state


def train_reranker(encoder: Any, catalog: Catalog, earlier: Interactions, held_out: list[Case],
                   first_stage: Any, config: RecommendConfig) -> tuple[Any, dict]:
    """The cross-encoder fine-tuned on ``earlier``'s steps, and its combination with
    ``first_stage`` fitted on the ``held_out`` last steps; return the re-ranker and its figures."""
    from whet.recommend.bi_encoder import sample_cases
    from whet.recommend.reranker import Reranker, fit_combination

    settings, seed = config.reranker, config.training.seed
    model, seconds, steps = fine_tune_cross_encoder(encoder, catalog, earlier, settings,
                                                    base=settings.base or config.model.base,
                                                    history_items=config.model.history_items, seed=seed,
                                                    log_every=config.training.log_every)
    reranker = Reranker(model, settings.candidates, config.model.history_items)
    fit_cases = sample_cases(held_out, settings.users, seed)
    reranker.combination = combination = fit_combination(reranker, catalog, fit_cases, first_stage(fit_cases), seed)
    weights = dict(zip(combination.names, combination.weights.round(4).tolist())) if combination else None
    return reranker, {"train_seconds": round(seconds, 1), "steps": steps, "combination": weights}


def fine_tune_cross_encoder(encoder: Any, catalog: Catalog, earlier: Interactions, settings: RecommendReranker, *,
                            base: str, history_items: int, seed: int, log_every: int) -> tuple[Any, float, int]:
    """A cross-encoder from ``base`` fine-tuned on up to ``settings.max_pairs`` of ``earlier``'s
    steps whose target is among the tuned bi-encoder ``encoder``'s top candidates, the negatives
    drawn from the same candidates; return it, the seconds the training took and the number of steps."""
    from whet.recommend.baselines import embedding
    from whet.recommend.bi_encoder import sample_cases
    from whet.recommend.data import training_cases
    from whet.recommend.reranker import (candidate_training_cases, load_cross_encoder, train_cross_encoder,
                                         training_rows)
    from whet.training.loop import LoopState

    # About a fifth of the steps have their target among the bi-encoder's top candidates (the only
    # ones worth learning from): draw five times as many, keep the first max_pairs of those.
    wanted = settings.max_pairs * CANDIDATE_DRAWS if settings.max_pairs else None
    drawn = sample_cases(training_cases(earlier), wanted, seed)
    cosine = embedding(encoder, catalog, history_items)
    cases, negatives = [], []
    for start in range(0, len(drawn), 1024):
        chunk = drawn[start:start + 1024]
        kept, found = candidate_training_cases(cosine(chunk), chunk, settings.candidates, settings.negatives, seed)
        cases, negatives = cases + kept, negatives + found
    cases, negatives = cases[:settings.max_pairs], negatives[:settings.max_pairs]
    if not cases:
        raise DataError("no training step has its next item among the bi-encoder's top reranker.candidates; "
                        "raise reranker.candidates or set reranker.enabled: false")
    log.info("recommend: %d of %d steps have their next item among the bi-encoder's top %d", len(cases), len(drawn),
             settings.candidates)
    model = load_cross_encoder(base, settings.max_seq_length)
    columns, labels = training_rows(catalog, cases, negatives, loss=settings.loss, history_items=history_items,
                                    seed=seed)
    seconds = train_cross_encoder(model, columns, labels, loss=settings.loss, negatives=settings.negatives,
                                  batch_size=settings.batch_size, lr=settings.lr, warmup_ratio=settings.warmup_ratio,
                                  epochs=settings.epochs, seed=seed, log_every=log_every, state=LoopState())
    log.info("recommend: cross-encoder trained on %d steps in %.1fs", len(cases), seconds)
    return model, seconds, len(cases)
