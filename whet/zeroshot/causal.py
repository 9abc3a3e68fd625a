"""Causal-LM mode: each label's verbalizer scored as the continuation of a prompt.

A label's score is ``log p(verbalizer tokens | prompt)`` (summed over its tokens; with
several verbalizers, the log of their summed probabilities). Contextual calibration
(Zhao et al., 2021) then divides each label's probability by its probability after
content-free prompts ("N/A", "", "[MASK]" in place of the text), which removes the
model's preference for some verbalizers whatever the text. With demonstrations (in-context
few-shot), k labelled examples are written before the prompt in the same format, and the
content-free prompts carry the same demonstrations.

Verbalizers are appended to the prompt as written; the default, " " + the label's name,
starts with a space because the prompt ends right before the word.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from whet.errors import ConfigError
from whet.zeroshot.demonstrations import Demonstrations, choose
from whet.zeroshot.labels import LabelsFile, readable
from whet.zeroshot.lm import load_language_model, pad_id, query_logprobs
from whet.zeroshot.scores import Scores, calibrated, logsumexp, softmax

log = logging.getLogger("whet")

DEMONSTRATION_SEPARATOR = "\n\n"


def fill_prompt(template: str, text: str, labels: LabelsFile, setting: str) -> str:
    """A prompt or pattern with ``{text}`` and ``{labels}`` (the label names, comma-separated)."""
    try:
        return template.format(text=text, labels=", ".join(readable(name) for name in labels.labels))
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(f"{labels._source}: {setting} {template!r}: unknown placeholder {err}; "
                          f"use {{text}} and {{labels}}") from None


def continuation_ids(tokenizer: Any, context: str, continuation: str) -> list[int]:
    """The tokens ``continuation`` adds after ``context``: the tail of the tokenized whole,
    so tokenizers that merge a leading space into the word see it as they would in text."""
    head = tokenizer(context, add_special_tokens=False)["input_ids"]
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    if whole[:len(head)] == head and len(whole) > len(head):
        return whole[len(head):]
    return tokenizer(continuation, add_special_tokens=False)["input_ids"]


class CausalScorer:
    def __init__(self, model: Any, tokenizer: Any, labels: LabelsFile, device: torch.device,
                 demonstrations: Demonstrations | None = None, max_tokens: int = 2048) -> None:
        from whet.models.pretrained import model_max_length

        if "{text}" not in labels.prompt:
            raise ConfigError(f"{labels._source}: prompt {labels.prompt!r} has no {{text}}; put {{text}} where "
                              f"the text goes")
        self.model, self.tokenizer, self.spec, self.device = model, tokenizer, labels, device
        self.labels = list(labels.labels)
        self.demonstrations = demonstrations
        self.max_tokens = max_tokens
        self.max_length = model_max_length(tokenizer, model.config)
        # One column per verbalizer; ``owner`` maps it back to its label.
        self.verbalizers = [spec.verbalizers or [" " + readable(name)] for name, spec in labels.labels.items()]
        if any(not word.strip() for words in self.verbalizers for word in words):
            raise ConfigError(f"{labels._source}: an empty verbalizer cannot be scored; give each label words")
        self.owner = np.array([i for i, words in enumerate(self.verbalizers) for _ in words])
        probe = fill_prompt(labels.prompt, "N/A", labels, "prompt")
        self.continuations = [continuation_ids(tokenizer, probe, word) for words in self.verbalizers for word in words]

    def _prompt(self, text: str) -> str:
        return fill_prompt(self.spec.prompt, text, self.spec, "prompt")

    def _shown(self, examples: list[Any]) -> str:
        """Demonstrations in the prompt's own format, each followed by its label's first verbalizer."""
        return "".join(self._prompt(ex.text) + self.verbalizers[self.labels.index(ex.labels[0])][0]
                       + DEMONSTRATION_SEPARATOR for ex in examples)

    def score(self, texts: list[str]) -> Scores:
        shown = choose(self.demonstrations, texts) if self.demonstrations else [[] for _ in texts]
        prefixes = [self._shown(examples) for examples in shown]
        scores = self.label_logprobs([prefix + self._prompt(text) for prefix, text in zip(prefixes, texts)])
        if self.spec.calibrate:
            prior = {prefix: self.label_logprobs([prefix + self._prompt(text) for text in self.spec.content_free])
                     for prefix in dict.fromkeys(prefixes)}
            scores = np.stack([calibrated(row[None], prior[prefix])[0] for row, prefix in zip(scores, prefixes)])
        probabilities = softmax(scores)
        return Scores(probabilities, probabilities.max(axis=1))

    def label_logprobs(self, contexts: list[str]) -> np.ndarray:
        """(contexts, labels) log-probability of each label's verbalizers after each context."""
        longest = max(len(c) for c in self.continuations)
        budget = self.max_length - longest
        # An empty context (the prompt "{text}" with the content-free "") starts from the
        # beginning-of-text token, so the first verbalizer token has something to follow.
        start = [t for t in (self.tokenizer.bos_token_id, self.tokenizer.eos_token_id) if t is not None][:1]
        ids = [self.tokenizer(context)["input_ids"] or start for context in contexts]
        cut = sum(len(row) > budget for row in ids)
        if cut:
            log.warning("%d prompt(s) longer than the model's %d tokens lost their beginning", cut, self.max_length)
            ids = [row[-budget:] for row in ids]
        if longest == 1:  # one forward per context reads every single-token verbalizer at once
            sequences = ids
            queries = [[[(len(row) - 1, cont[0])] for cont in self.continuations] for row in ids]
            columns = np.stack(query_logprobs(self.model, sequences, queries, pad_id=pad_id(self.tokenizer),
                                              device=self.device, max_tokens=self.max_tokens))
        else:
            sequences = [row + cont for row in ids for cont in self.continuations]
            queries = [[[(len(row) - 1 + i, token) for i, token in enumerate(cont)]]
                       for row in ids for cont in self.continuations]
            flat = query_logprobs(self.model, sequences, queries, pad_id=pad_id(self.tokenizer), device=self.device,
                                  max_tokens=self.max_tokens)
            columns = np.concatenate(flat).reshape(len(ids), len(self.continuations))
        return np.stack([logsumexp(columns[:, self.owner == i], axis=1) for i in range(len(self.labels))], axis=1)


def build(model: str, labels: LabelsFile, *, device: torch.device,
          demonstrations: Demonstrations | None = None) -> CausalScorer:
    lm, tokenizer = load_language_model("AutoModelForCausalLM", model, device)
    return CausalScorer(lm, tokenizer, labels, device, demonstrations)
