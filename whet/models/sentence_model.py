"""Sentence-embedding models (through sentence-transformers) and a classifier on their embeddings.

An encoder keeps its own sentence-transformers pipeline: for the builtin all-MiniLM-L6-v2
that is mean pooling over the tokens, then L2 normalisation (its ``1_Pooling`` and
``2_Normalize`` modules). A plain transformers encoder gets mean pooling, as
sentence-transformers gives it. ``SentenceClassifier`` puts a linear layer on the sentence
embedding and answers like a transformers sequence classifier (``outputs.logits``), so a
few-shot model goes through whet's prediction, evaluation and serving code unchanged.

A saved classifier is the encoder in sentence-transformers layout (``modules.json``,
``config.json``, ``model.safetensors``, tokenizer files; ``SentenceTransformer(path)``
loads it) plus ``classifier.safetensors`` with the head's ``weight`` and ``bias``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from whet.errors import ModelError

CLASSIFIER_FILE = "classifier.safetensors"


def _refuse_pickled_modules(location: str) -> None:
    """sentence-transformers falls back to ``pytorch_model.bin`` for modules such as Dense
    layers; whet reads weights from safetensors only, so such a model is refused up front."""
    modules_file = Path(location) / "modules.json"
    if not modules_file.is_file():
        return
    for module in json.loads(modules_file.read_text(encoding="utf-8")):
        folder = Path(location) / module.get("path", "")
        if (folder / "pytorch_model.bin").is_file() and not any(folder.glob("*.safetensors")):
            raise ModelError(f"{folder} holds only pickled weights (pytorch_model.bin); whet reads safetensors "
                             f"only: convert the module's weights to model.safetensors")


def load_sentence_encoder(name: str, device: str | torch.device = "cpu") -> Any:
    """A ``SentenceTransformer`` for ``name`` (builtin name, local directory or hub id), weights
    from safetensors only."""
    from whet.models.pretrained import quiet_transformers, resolve_model

    location = resolve_model(name)
    _refuse_pickled_modules(location)
    from sentence_transformers import SentenceTransformer

    try:
        with quiet_transformers():
            return SentenceTransformer(location, device=str(device), model_kwargs={"use_safetensors": True})
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if Path(location).is_dir():
            raise ModelError(f"cannot load a sentence encoder from {location}: {first}") from None
        raise ModelError(f"cannot load '{name}': it is not a local directory and the Hugging Face Hub could not "
                         f"provide it (offline, or no such model id); use a local model directory or "
                         f"builtin:minilm") from None


def embed(encoder: Any, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """(texts, dim) float32 sentence embeddings, as the encoder's own pipeline makes them."""
    if not texts:
        return np.zeros((0, encoder.get_sentence_embedding_dimension()), dtype=np.float32)
    with torch.inference_mode():
        vectors = encoder.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (cosine similarity becomes a dot product)."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


class SentenceClassifier(torch.nn.Module):
    """Sentence encoder + linear head, with the forward signature of a transformers classifier."""

    def __init__(self, encoder: Any, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.encoder = encoder
        self.classifier = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.classifier.weight.copy_(weight)
            self.classifier.bias.copy_(bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> Any:
        from transformers.modeling_outputs import SequenceClassifierOutput

        features = {"input_ids": input_ids,
                    "attention_mask": attention_mask if attention_mask is not None else torch.ones_like(input_ids)}
        if token_type_ids is not None:
            features["token_type_ids"] = token_type_ids
        embedding = self.encoder(features)["sentence_embedding"]  # (batch, dim)
        logits = self.classifier(embedding)  # (batch, labels)
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def save_pretrained(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        from whet.models.pretrained import quiet_transformers

        with quiet_transformers():
            self.encoder.save(str(path), safe_serialization=True)
        save_file({"weight": self.classifier.weight.detach().cpu().contiguous(),
                   "bias": self.classifier.bias.detach().cpu().contiguous()}, str(Path(path) / CLASSIFIER_FILE))


def load_sentence_classifier(path: Path) -> SentenceClassifier:
    from safetensors.torch import load_file

    head_file = Path(path) / CLASSIFIER_FILE
    if not head_file.is_file():
        raise ModelError(f"{path} has no {CLASSIFIER_FILE}; save the few-shot model again with whet train")
    head = load_file(str(head_file))
    return SentenceClassifier(load_sentence_encoder(str(path)), head["weight"], head["bias"])
