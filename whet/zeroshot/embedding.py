"""Embedding mode: cosine similarity between a text and each label in a sentence encoder's space.

A label's vector is the mean of the unit-length embeddings of the texts that stand for it
(its templates filled with its name and description, its examples in the labels file and
those of an ``--examples`` file), scaled back to unit length: a nearest-centroid classifier
that needs no training. The confidence is the best label's cosine
similarity; the probabilities are a softmax over the similarities divided by ``temperature``.
"""

from __future__ import annotations

import numpy as np
import torch

from whet.data.examples import TextExample
from whet.models.sentence_model import embed, load_sentence_encoder, unit_rows
from whet.zeroshot.labels import LabelsFile, LabelSpec, fill, readable
from whet.zeroshot.scores import Scores, softmax


def label_texts(name: str, spec: LabelSpec, labels: LabelsFile) -> list[str]:
    """The texts whose embeddings make up a label's vector."""
    templates = spec.templates or labels.templates
    if templates:
        texts = [fill(t, name, spec, labels, f"labels.{name}.templates" if spec.templates else "templates")
                 for t in templates]
    else:
        texts = [readable(name)] + ([spec.description] if spec.description else [])
    return texts + list(spec.examples)


class EmbeddingScorer:
    def __init__(self, encoder: object, labels: list[str], groups: list[list[str]], temperature: float) -> None:
        """``groups[i]``: the texts that stand for ``labels[i]``."""
        self.encoder, self.labels, self.temperature = encoder, labels, temperature
        vectors = unit_rows(embed(encoder, [text for group in groups for text in group]))
        owner = np.array([i for i, group in enumerate(groups) for _ in group])
        self.label_vectors = unit_rows(np.stack([vectors[owner == i].mean(axis=0) for i in range(len(groups))]))

    def score(self, texts: list[str]) -> Scores:
        similarity = unit_rows(embed(self.encoder, texts)) @ self.label_vectors.T  # (texts, labels)
        return Scores(softmax(similarity / self.temperature), similarity.max(axis=1))


def build(model: str, labels: LabelsFile, *, device: torch.device,
          examples: list[TextExample] = ()) -> EmbeddingScorer:
    # The labels file is checked (templates filled) before the model is loaded.
    names = list(labels.labels)
    groups = [label_texts(name, spec, labels) for name, spec in labels.labels.items()]
    for example in examples:
        groups[names.index(example.labels[0])].append(example.text)
    return EmbeddingScorer(load_sentence_encoder(model, device), names, groups, labels.temperature)
