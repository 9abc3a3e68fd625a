"""NLI mode: a natural-language-inference model judges "text entails <hypothesis about label>".

Each text is paired with every label's hypothesis ("This text is about {label}."). The
labels' entailment logits, softmaxed over the labels, give the probabilities (as in the
transformers zero-shot pipeline); the confidence is the best label's own entailment
probability (softmax over the model's classes for that pair), an absolute judgement that
the out-of-scope threshold can use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from whet.data.token_batches import length_grouped_batches
from whet.errors import ModelError
from whet.tasks.padding import pad
from whet.zeroshot.labels import LabelsFile, fill
from whet.zeroshot.lm import load_language_model, pad_id
from whet.zeroshot.scores import Scores, softmax


def entailment_index(config: Any, name: str) -> int:
    for index, label in (config.id2label or {}).items():
        if str(label).lower().startswith("entail"):
            return int(index)
    raise ModelError(f"model '{name}' has no entailment class (id2label: {config.id2label}); mode nli needs a "
                     f"model fine-tuned for natural language inference")


class NliScorer:
    def __init__(self, model: Any, tokenizer: Any, labels: list[str], hypotheses: list[str], device: torch.device,
                 entailment: int, max_tokens: int = 8192) -> None:
        from whet.models.pretrained import model_max_length

        self.model, self.tokenizer, self.device, self.entailment = model, tokenizer, device, entailment
        self.labels, self.hypotheses = labels, hypotheses
        self.max_length = model_max_length(tokenizer, model.config)
        self.max_tokens = max_tokens

    def score(self, texts: list[str]) -> Scores:
        premises = [text for text in texts for _ in self.hypotheses]
        hypotheses = self.hypotheses * len(texts)
        # A long text is cut (never the hypothesis); NLI models judge a premise of a few sentences.
        encoded = self.tokenizer(premises, hypotheses, truncation="only_first", max_length=self.max_length)
        rows = encoded["input_ids"]
        types = encoded.get("token_type_ids")
        logits = np.zeros((len(rows), self.model.config.num_labels), dtype=np.float32)
        with torch.inference_mode():
            for batch in length_grouped_batches([len(r) for r in rows], 64, self.max_tokens, shuffle=False):
                inputs = {"input_ids": pad([rows[i] for i in batch], pad_id(self.tokenizer)),
                          "attention_mask": pad([[1] * len(rows[i]) for i in batch], 0)}
                if types is not None:
                    inputs["token_type_ids"] = pad([types[i] for i in batch], 0)
                output = self.model(**{k: v.to(self.device) for k, v in inputs.items()})
                logits[batch] = output.logits.float().cpu().numpy()
        logits = logits.reshape(len(texts), len(self.labels), -1)  # (texts, labels, nli classes)
        probabilities = softmax(logits[:, :, self.entailment], axis=1)
        entailed = softmax(logits, axis=2)[:, :, self.entailment]  # (texts, labels)
        best = probabilities.argmax(axis=1)
        return Scores(probabilities, entailed[np.arange(len(texts)), best])


def build(model: str, labels: LabelsFile, *, device: torch.device) -> NliScorer:
    hypotheses = [fill(labels.hypothesis, name, spec, labels, "hypothesis") for name, spec in labels.labels.items()]
    nli_model, tokenizer = load_language_model("AutoModelForSequenceClassification", model, device)
    return NliScorer(nli_model, tokenizer, list(labels.labels), hypotheses, device,
                     entailment_index(nli_model.config, model))
