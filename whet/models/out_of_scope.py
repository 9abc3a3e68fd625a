"""Out-of-scope detection for single-label text classifiers: a scorer, a threshold, and what a
model directory keeps of them.

Each scorer gives a text a score that is higher the further it lies from the training data:

- ``msp``: 1 - the largest softmax probability (Hendrycks & Gimpel, 2017);
- ``energy``: -logsumexp of the logits (Liu et al., 2020, "Energy-based Out-of-distribution Detection");
- ``knn``: the cosine distance to the k-th nearest training text, on normalised features (Sun et al.,
  2022, "Out-of-Distribution Detection with Deep Nearest Neighbors");
- ``mahalanobis``: the squared Mahalanobis distance to the closest class mean, class-conditional
  Gaussians with one shared covariance (Lee et al., 2018).

The features are the last layer's hidden state at the first token (``[CLS]``), averaged over the
windows of a long text, the vector a BERT-style head classifies from. What a scorer needs from
training (the normalised training features, or the class means and the precision matrix) is kept
in ``out_of_scope.safetensors`` beside the model; the scorer, the threshold and the labels in
``out_of_scope.json``, so prediction needs only the model directory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from whet.errors import ModelError

log = logging.getLogger("whet")

SCORERS = ("msp", "energy", "knn", "mahalanobis")
FEATURE_SCORERS = ("knn", "mahalanobis")  # scorers over hidden features, fitted on the training texts
SETTINGS_FILE = "out_of_scope.json"
ARRAYS_FILE = "out_of_scope.safetensors"


@dataclass
class ExampleOutputs:
    """A model's outputs per example: logits (examples, labels) and, for the feature scorers,
    first-token features (examples, hidden)."""

    logits: np.ndarray
    features: np.ndarray | None = None


@dataclass
class Detector:
    """A fitted scorer and its threshold: texts scoring above it get ``none_label``.

    ``oos_label`` is the label of out-of-scope texts in data files; when the model was trained with
    it as a class, predicting it also gives ``none_label``.
    """

    scorer: str
    threshold: float
    none_label: str = "none"
    oos_label: str = "oos"
    k: int = 1
    fitted: dict = field(default_factory=dict)  # how the threshold was chosen, and the dev figures
    arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def needs_features(self) -> bool:
        return self.scorer in FEATURE_SCORERS

    def scores(self, outputs: ExampleOutputs) -> np.ndarray:
        return score(self.scorer, outputs, self.arrays, k=self.k)

    def decision_scores(self, scores: np.ndarray, predicted: list[str]) -> np.ndarray:
        """``scores`` with the texts predicted as the out-of-scope class (a model trained with it)
        raised above every other and the threshold: they are out of scope whatever their score."""
        as_class = np.array([label == self.oos_label for label in predicted], dtype=bool)
        if not as_class.any():
            return scores
        return np.where(as_class, max(float(scores.max()), self.threshold) + 1.0, scores)

    def relabel(self, records: list[dict], scores: np.ndarray) -> list[dict]:
        """Each prediction record with its ``out_of_scope_score``; a flagged one's label becomes
        ``none_label`` and the label it had goes to ``in_scope_label``."""
        flags = self.decision_scores(scores, [record["label"] for record in records]) > self.threshold
        for record, value, flag in zip(records, scores, flags):
            record["out_of_scope_score"] = round(float(value), 4)
            if flag:
                record["in_scope_label"], record["label"] = record["label"], self.none_label
        return records


def score(scorer: str, outputs: ExampleOutputs, arrays: dict[str, np.ndarray], *, k: int = 1) -> np.ndarray:
    """One score per example, higher further out of scope."""
    import torch

    logits = torch.from_numpy(np.asarray(outputs.logits, dtype=np.float32))
    if scorer == "msp":
        return (1.0 - torch.softmax(logits, dim=-1).max(dim=-1).values).numpy()
    if scorer == "energy":
        return (-torch.logsumexp(logits, dim=-1)).numpy()
    if outputs.features is None:
        raise ValueError(f"scorer {scorer} needs the examples' features")
    features = torch.from_numpy(np.asarray(outputs.features, dtype=np.float32))
    if scorer == "knn":
        return _kth_neighbour_distance(torch.nn.functional.normalize(features, dim=-1),
                                       torch.from_numpy(arrays["train_features"]), k)
    if scorer == "mahalanobis":
        means, precision = torch.from_numpy(arrays["class_means"]), torch.from_numpy(arrays["precision"])
        # (x - m)ᵀ P (x - m) = xᵀPx - 2 xᵀPm + mᵀPm, for every example and class mean at once.
        projected = features @ precision  # (examples, hidden)
        distances = ((projected * features).sum(-1, keepdim=True) - 2 * projected @ means.T
                     + ((means @ precision) * means).sum(-1))  # (examples, classes)
        return distances.min(dim=-1).values.numpy()
    raise ValueError(f"unknown scorer {scorer!r}; choose one of {', '.join(SCORERS)}")


def _kth_neighbour_distance(queries: Any, bank: Any, k: int, chunk: int = 1024) -> np.ndarray:
    # Exact search: for a few thousand queries over tens of thousands of training texts a matrix
    # product per chunk takes well under a second on a CPU.
    import torch

    k = min(k, bank.shape[0])
    out = []
    for start in range(0, queries.shape[0], chunk):
        similarity = queries[start:start + chunk] @ bank.T  # (chunk, train texts)
        out.append(1.0 - torch.topk(similarity, k, dim=-1).values[:, -1])
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def fit_arrays(scorer: str, features: np.ndarray | None, label_ids: np.ndarray) -> dict[str, np.ndarray]:
    """What ``scorer`` keeps from the training texts' ``features`` and their labels' indices."""
    if scorer not in FEATURE_SCORERS:
        return {}
    import torch

    x = torch.from_numpy(np.asarray(features, dtype=np.float32))
    if scorer == "knn":
        return {"train_features": torch.nn.functional.normalize(x, dim=-1).numpy()}
    from sklearn.covariance import EmpiricalCovariance

    classes = np.unique(label_ids)
    means = np.stack([features[label_ids == c].mean(axis=0) for c in classes]).astype(np.float32)
    centred = features - means[np.searchsorted(classes, label_ids)]
    # The pseudo-inverse (pinvh inside sklearn) keeps a singular covariance usable: fewer texts than dimensions.
    precision = EmpiricalCovariance(assume_centered=True).fit(centred).precision_
    return {"class_means": means, "precision": precision.astype(np.float32)}


def example_outputs(run: Callable[..., list[np.ndarray]], features: list[dict], examples: int, labels: int,
                    with_features: bool) -> ExampleOutputs:
    """Per-example logits (and first-token features) from ``run(features, reduce)``, a call of
    ``whet.models.inference.run_model`` with its model and settings bound. Windows of one example
    are averaged, as ``sequence_classification.probabilities`` averages their logits."""
    rows = run(features, logits_and_first_token if with_features else None)
    width = rows[0].shape[-1] if rows else labels
    summed, counts = np.zeros((examples, width), dtype=np.float64), np.zeros(examples)
    for feature, row in zip(features, rows):
        summed[feature["example"]] += row
        counts[feature["example"]] += 1
    mean = summed / np.maximum(counts, 1)[:, None]
    if not with_features:
        return ExampleOutputs(logits=mean)
    return ExampleOutputs(logits=mean[:, :labels], features=mean[:, labels:])


def logits_and_first_token(outputs: Any, batch: dict) -> np.ndarray:
    """A ``run_model`` reduction: each row's logits, then its last layer's first-token state."""
    hidden = getattr(outputs, "hidden_states", None)
    if hidden is None:
        raise ModelError("this model gives no hidden states (an ONNX export); use out-of-scope scorer msp or energy")
    return np.concatenate([outputs.logits.float().cpu().numpy(), hidden[-1][:, 0].float().cpu().numpy()], axis=-1)


def fit_detector(scorer: str, labels: list[str], dev: ExampleOutputs, dev_gold: list[str], *,
                 train: ExampleOutputs | None = None, train_gold: list[str] | None = None, oos_label: str = "oos",
                 none_label: str = "none", target_recall: float = 0.95, k: int = 1) -> Detector:
    """Fit ``scorer`` on the training texts' outputs (the feature scorers) and choose its threshold
    on the dev texts' (see ``whet.metrics.out_of_scope.choose_threshold``: best OOS F1 where dev
    has texts labelled ``oos_label``, else ``target_recall`` of the in-scope texts kept)."""
    from whet.metrics.out_of_scope import choose_threshold, out_of_scope_metrics

    arrays: dict[str, np.ndarray] = {}
    if scorer in FEATURE_SCORERS:
        if train is None or train.features is None or train_gold is None:
            raise ValueError(f"scorer {scorer} needs the training texts' features")
        index = {label: i for i, label in enumerate(labels) if label != oos_label}
        keep = [i for i, gold in enumerate(train_gold) if gold in index]
        arrays = fit_arrays(scorer, train.features[keep], np.array([index[train_gold[i]] for i in keep]))
    detector = Detector(scorer=scorer, threshold=0.0, none_label=none_label, oos_label=oos_label, k=k, arrays=arrays)
    predicted = [labels[i] for i in dev.logits.argmax(axis=1)]
    scores = detector.decision_scores(detector.scores(dev), predicted)
    is_oos = np.array([gold == oos_label for gold in dev_gold], dtype=bool)
    choice = choose_threshold(scores, is_oos, target_recall)
    detector.threshold = choice.threshold
    correct = np.array([p == gold for p, gold in zip(predicted, dev_gold)], dtype=bool)
    detector.fitted = {**choice.to_dict(), "target_recall": target_recall,
                       "dev": out_of_scope_metrics(scores, choice.threshold, is_oos, correct)}
    return detector


def save_detector(directory: Path, detector: Detector) -> None:
    """``out_of_scope.json`` and, for the feature scorers, ``out_of_scope.safetensors`` in ``directory``."""
    from safetensors.numpy import save

    from whet.io.atomic import write_bytes_atomic, write_json_atomic

    settings = {key: value for key, value in asdict(detector).items() if key != "arrays"}
    if detector.arrays:
        write_bytes_atomic(directory / ARRAYS_FILE, save({k: np.ascontiguousarray(v) for k, v in detector.arrays.items()}))
    elif (directory / ARRAYS_FILE).exists():  # left by a feature scorer fitted before
        (directory / ARRAYS_FILE).unlink()
    write_json_atomic(directory / SETTINGS_FILE, settings)


def load_detector(directory: Path) -> Detector | None:
    """The detector saved with a model, or None when it has none."""
    path = directory / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        detector = Detector(**json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as err:
        raise ModelError(f"{path} is not an out-of-scope detector ({err}); fit it again") from None
    if detector.scorer not in SCORERS:
        raise ModelError(f"{path}: unknown scorer {detector.scorer!r}; fit the detector again")
    if detector.needs_features:
        if not (directory / ARRAYS_FILE).is_file():
            raise ModelError(f"{directory} has {SETTINGS_FILE} with scorer {detector.scorer} but no {ARRAYS_FILE}; "
                             f"copy the whole model directory, or fit the detector again")
        from safetensors.numpy import load_file

        detector.arrays = load_file(str(directory / ARRAYS_FILE))
    return detector


def copy_detector(source: Path, target: Path, *, onnx: bool = False, int8: bool = False) -> None:
    """Give an exported model directory ``target`` the detector of ``source``, if it has one.

    An ONNX export gives no hidden states, so a knn or mahalanobis detector stays behind (with a
    warning saying how to fit one that works there); int8 weights move the scores a little, so the
    float model's threshold comes along with a note that refitting gives the export its own.
    """
    detector = load_detector(source)
    if detector is None:
        return
    if onnx and detector.needs_features:
        log.warning("the out-of-scope scorer %s reads hidden states, which an ONNX export does not give: %s has "
                    "no detector; fit one there with: whet out-of-scope %s DEV --scorer energy",
                    detector.scorer, target, target)
        return
    save_detector(target, detector)
    if int8:
        log.info("out-of-scope detector copied with the float model's threshold; int8 weights move the scores a "
                 "little: whet out-of-scope %s DEV fits its own", target)
