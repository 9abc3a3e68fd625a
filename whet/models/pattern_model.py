"""A masked LM as a classifier through a pattern and verbalizers (PET, Schick & Schütze, 2021).

The text goes into a pattern ("{text} Topic: {mask}."), and the class score of each label is
the masked LM's logit for the label's word (its verbalizer) at the mask; a word of several
tokens gets that many masks and the mean of its tokens' logits. ``PatternClassifier`` takes
the token ids of the bare text, as whet's sequence-classification encoding makes them
(``[CLS] text [SEP]``, windows for long texts), puts the pattern's tokens around the text
itself, and answers like a transformers classifier (``outputs.logits``: batch x labels), so
whet's loop trains it and whet's prediction code serves it.

A saved model is the masked LM (plain transformers layout, ``AutoModelForMaskedLM`` loads it)
plus ``pattern.json`` (pattern and verbalizers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from whet.errors import ConfigError, ModelError

PATTERN_FILE = "pattern.json"


def _words(labels: list[str], verbalizers: dict[str, str]) -> list[str]:
    from whet.data.label_words import readable

    unknown = sorted(set(verbalizers) - set(labels))
    if unknown:
        raise ConfigError(f"method.pet.verbalizers: {', '.join(unknown)} not among the training labels "
                          f"({', '.join(labels)})")
    return [verbalizers.get(label) or readable(label) for label in labels]


def pattern_pieces(tokenizer: Any, pattern: str, labels: list[str], verbalizers: dict[str, str]) -> dict:
    """Token ids of the pattern around the text (masks included) and of each label's word."""
    if tokenizer.mask_token is None:
        raise ConfigError("method pet needs a masked language model whose tokenizer has a mask token")
    if pattern.count("{text}") != 1 or pattern.count("{mask}") != 1:
        raise ConfigError(f"method.pet.pattern {pattern!r} needs {{text}} and {{mask}} once each")
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    wrapped = tokenizer("a")["input_ids"]
    if len(wrapped) != len(bare) + 2 or wrapped[1:-1] != bare:
        raise ConfigError("method pet needs a tokenizer that wraps a text in one start and one end token "
                          "(as BERT and RoBERTa do)")
    word_ids = [tokenizer(" " + word.strip(), add_special_tokens=False)["input_ids"]
                for word in _words(labels, verbalizers)]
    if any(not ids for ids in word_ids):
        raise ConfigError("method.pet.verbalizers: an empty word cannot be predicted; give each label a word")
    masks = " ".join([tokenizer.mask_token] * max(len(ids) for ids in word_ids))
    try:
        before, after = (piece.format(mask=masks) for piece in pattern.split("{text}"))
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(f"method.pet.pattern {pattern!r}: unknown placeholder {err}; use {{text}} and {{mask}}") \
            from None
    return {"before": tokenizer(before, add_special_tokens=False)["input_ids"] if before.strip() else [],
            "after": tokenizer(after, add_special_tokens=False)["input_ids"] if after.strip() else [],
            "words": word_ids, "mask_id": tokenizer.mask_token_id}


def pattern_length(tokenizer: Any, pattern: str, labels: list[str], verbalizers: dict[str, str]) -> int:
    """Tokens the pattern adds to every window (the text's windows are shorter by this much)."""
    pieces = pattern_pieces(tokenizer, pattern, labels, verbalizers)
    return len(pieces["before"]) + len(pieces["after"])


class PatternClassifier(torch.nn.Module):
    base_model_prefix = "mlm"  # the whole model is pretrained: no new head (and no separate head_lr)

    def __init__(self, mlm: Any, pieces: dict, pad_id: int, pattern: str, verbalizers: dict[str, str]) -> None:
        super().__init__()
        self.mlm = mlm
        self.pattern, self.verbalizers, self.pad_id = pattern, dict(verbalizers), pad_id
        self.register_buffer("before", torch.tensor(pieces["before"], dtype=torch.long), persistent=False)
        self.register_buffer("after", torch.tensor(pieces["after"], dtype=torch.long), persistent=False)
        # Where the masks sit, counted from the start of ``before`` and from the start of ``after``.
        self.masks_before = [i for i, t in enumerate(pieces["before"]) if t == pieces["mask_id"]]
        self.masks_after = [i for i, t in enumerate(pieces["after"]) if t == pieces["mask_id"]]
        words = pieces["words"]
        width = len(self.masks_before) + len(self.masks_after)
        # (labels, masks): the word's token at each mask, and 1/len(word) where the word has one.
        ids = torch.zeros(len(words), width, dtype=torch.long)
        weights = torch.zeros(len(words), width)
        for row, word in enumerate(words):
            ids[row, :len(word)] = torch.tensor(word)
            weights[row, :len(word)] = 1.0 / len(word)
        self.register_buffer("word_ids", ids, persistent=False)
        self.register_buffer("word_weights", weights, persistent=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> Any:
        from transformers.modeling_outputs import SequenceClassifierOutput

        lengths = attention_mask.sum(dim=1).tolist() if attention_mask is not None else [input_ids.shape[1]] * len(input_ids)
        rows, positions = [], []
        for row, length in zip(input_ids, lengths):
            text = row[1:length - 1]  # without the start and end tokens
            rows.append(torch.cat([row[:1], self.before, text, self.after, row[length - 1:length]]))
            start_after = 1 + len(self.before) + len(text)
            positions.append([1 + i for i in self.masks_before] + [start_after + i for i in self.masks_after])
        ids = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=self.pad_id)
        mask = torch.nn.utils.rnn.pad_sequence([torch.ones_like(r) for r in rows], batch_first=True)
        logits = self.mlm(input_ids=ids, attention_mask=mask).logits  # (batch, seq, vocab)
        at_masks = logits[torch.arange(len(rows), device=ids.device)[:, None],
                          torch.tensor(positions, device=ids.device)]  # (batch, masks, vocab)
        # (batch, labels): the mean logit of each label's word tokens at their masks.
        scores = sum(at_masks[:, j, self.word_ids[:, j]] * self.word_weights[:, j]
                     for j in range(self.word_ids.shape[1]))
        loss = torch.nn.functional.cross_entropy(scores, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=scores)

    def get_input_embeddings(self) -> torch.nn.Module:
        """The masked LM's word embeddings (adversarial training perturbs their output)."""
        return self.mlm.get_input_embeddings()

    def save_pretrained(self, path: str | Path) -> None:
        from whet.io.atomic import write_json_atomic

        self.mlm.save_pretrained(str(path))
        write_json_atomic(Path(path) / PATTERN_FILE, {"pattern": self.pattern, "verbalizers": self.verbalizers})


def build_pattern_classifier(name: str, tokenizer: Any, labels: list[str], pattern: str,
                             verbalizers: dict[str, str]) -> PatternClassifier:
    """The masked LM ``name`` (weights from safetensors) as a classifier over ``labels``."""
    import transformers

    from whet.models.pretrained import load_model

    pieces = pattern_pieces(tokenizer, pattern, labels, verbalizers)
    mlm = load_model(transformers.AutoModelForMaskedLM, name)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return PatternClassifier(mlm, pieces, pad_id, pattern, verbalizers)


def load_pattern_classifier(path: Path, tokenizer: Any, labels: list[str]) -> PatternClassifier:
    settings_file = Path(path) / PATTERN_FILE
    if not settings_file.is_file():
        raise ModelError(f"{path} has no {PATTERN_FILE}; save the PET model again with whet train")
    settings = json.loads(settings_file.read_text(encoding="utf-8"))
    return build_pattern_classifier(str(path), tokenizer, labels, settings["pattern"], settings["verbalizers"])
