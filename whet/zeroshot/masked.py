"""MLM mode: PET-style pattern and verbalizers with a masked language model (Schick & Schütze, 2021).

The text is put into a pattern with a mask ("{text} Topic: {mask}."), and a label's score is
the log-probability the model gives its verbalizer at the mask. A verbalizer of n tokens is
read from a pattern with n masks (one token per mask, log-probabilities summed). Scores are
calibrated against content-free texts as in the causal mode.

Verbalizers are tokenized as words that follow a space ("card", not "##card"), which suits
WordPiece (BERT), byte-level BPE (RoBERTa) and SentencePiece models alike.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from whet.errors import ConfigError
from whet.zeroshot.labels import LabelsFile, readable
from whet.zeroshot.lm import load_language_model, pad_id, query_logprobs
from whet.zeroshot.scores import Scores, calibrated, logsumexp, softmax

log = logging.getLogger("whet")


class MaskedScorer:
    def __init__(self, model: Any, tokenizer: Any, labels: LabelsFile, device: torch.device,
                 max_tokens: int = 4096) -> None:
        from whet.models.pretrained import model_max_length

        pattern = labels.pattern
        if tokenizer.mask_token is None:
            raise ConfigError("mode mlm needs a masked language model whose tokenizer has a mask token")
        if pattern.count("{text}") != 1 or pattern.count("{mask}") != 1:
            raise ConfigError(f"{labels._source}: pattern {pattern!r} needs {{text}} and {{mask}} once each")
        self.model, self.tokenizer, self.spec, self.device = model, tokenizer, labels, device
        self.labels = list(labels.labels)
        self.max_tokens = max_tokens
        self.max_length = model_max_length(tokenizer, model.config)
        words = [spec.verbalizers or [readable(name)] for name, spec in labels.labels.items()]
        self.owner = np.array([i for i, label_words in enumerate(words) for _ in label_words])
        self.verbalizer_ids = [tokenizer(" " + word.strip(), add_special_tokens=False)["input_ids"]
                               for label_words in words for word in label_words]
        if any(not ids for ids in self.verbalizer_ids):
            raise ConfigError(f"{labels._source}: an empty verbalizer cannot be scored; give each label words")

    def score(self, texts: list[str]) -> Scores:
        scores = self.label_logprobs(texts)
        if self.spec.calibrate:
            scores = calibrated(scores, self.label_logprobs(list(self.spec.content_free)))
        probabilities = softmax(scores)
        return Scores(probabilities, probabilities.max(axis=1))

    def label_logprobs(self, texts: list[str]) -> np.ndarray:
        """(texts, labels) log-probability of each label's verbalizers at the mask(s)."""
        columns = np.zeros((len(texts), len(self.verbalizer_ids)))
        for n_masks in sorted({len(ids) for ids in self.verbalizer_ids}):
            which = [j for j, ids in enumerate(self.verbalizer_ids) if len(ids) == n_masks]
            encoded = [self._encode(text, n_masks) for text in texts]
            queries = [[list(zip(positions, self.verbalizer_ids[j])) for j in which] for _, positions in encoded]
            scored = query_logprobs(self.model, [ids for ids, _ in encoded], queries, pad_id=pad_id(self.tokenizer),
                                    device=self.device, max_tokens=self.max_tokens)
            columns[:, which] = np.stack(scored)
        return np.stack([logsumexp(columns[:, self.owner == i], axis=1) for i in range(len(self.labels))], axis=1)

    def _encode(self, text: str, n_masks: int) -> tuple[list[int], list[int]]:
        """Token ids of the filled pattern and the positions of its masks (never those in the text)."""
        masks = " ".join([self.tokenizer.mask_token] * n_masks)
        names = ", ".join(readable(name) for name in self.labels)
        try:
            before, after = (piece.format(mask=masks, labels=names) for piece in self.spec.pattern.split("{text}"))
        except (KeyError, IndexError, ValueError) as err:
            raise ConfigError(f"{self.spec._source}: pattern {self.spec.pattern!r}: unknown placeholder {err}; "
                              f"use {{text}}, {{mask}} and {{labels}}") from None
        budget = self.max_length - len(self.tokenizer(before + after)["input_ids"])
        text_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(text_ids) > budget:
            log.warning("a text of %d tokens was cut to %d to fit the pattern into the model's %d tokens",
                        len(text_ids), budget, self.max_length)
            text = self.tokenizer.decode(text_ids[:max(budget, 0)])
        encoded = self.tokenizer(before + text + after, return_offsets_mapping=True)
        inside = range(len(before), len(before) + len(text))
        positions = [i for i, (token, (start, _)) in enumerate(zip(encoded["input_ids"], encoded["offset_mapping"]))
                     if token == self.tokenizer.mask_token_id and start not in inside]
        return encoded["input_ids"], positions


def build(model: str, labels: LabelsFile, *, device: torch.device) -> MaskedScorer:
    lm, tokenizer = load_language_model("AutoModelForMaskedLM", model, device)
    return MaskedScorer(lm, tokenizer, labels, device)
