"""Masked language modelling: continued pretraining of an encoder on unlabelled in-domain text
(domain adaptation, Gururangan et al., 2020), before fine-tuning it on a labelled task.

Data: plain text (one text per line) or JSONL, CSV and TSV with a text column
(``data.text_column``); labels, if any, are ignored. A text longer than the window is cut into
windows that do not overlap.

Masking: transformers' ``DataCollatorForLanguageModeling`` chooses ``data.mlm_probability`` of
the words and masks every token of a chosen word (``whole_word_mask``: words are runs of tokens
without a gap between their character offsets); with ``data.whole_word_mask: false`` it masks
tokens independently, BERT's 80 % [MASK], 10 % random, 10 % kept. Training batches are masked
anew each time they are drawn (dynamic masking, as RoBERTa); dev and test texts are masked once,
when encoded, by a generator with a fixed seed, so every evaluation scores the same masks.

Model: ``AutoModelForMaskedLM``. A checkpoint without an MLM head (a sentence-transformers
encoder such as ``builtin:minilm`` is a bare ``BertModel``) gets a new one whose decoder is tied
to the input embeddings, as transformers builds it; ``whet.training.setup.build_model`` logs the
newly initialised weights. The saved model is a plain ``*ForMaskedLM`` directory: a later run
with it as ``model:`` loads the encoder under its task's head and drops the MLM head.

Metrics: loss and perplexity over the masked tokens, and the share of them predicted exactly.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from whet.data.examples import TextExample
from whet.data.settings import DataConfig
from whet.data.tabular import read_text_examples
from whet.data.text_files import read_text_file, text_lines
from whet.errors import DataError, ModelError
from whet.tasks.base import Task
from whet.tasks.padding import pad

IGNORE = -100
DEV_MASK_SEED = 0  # the generator that masks dev and test texts once
MASK_CHUNK = 256  # windows masked together when encoding


# -- data -------------------------------------------------------------------------------------
def read_texts(path: str | Path, *, format: str = "auto", encoding: str = "utf-8",
               text_column: str = "text") -> list[TextExample]:
    """Read the texts of a masked-lm data file: one per line of a plain-text file, or the
    ``text_column`` of each JSONL, CSV or TSV record (any other column is ignored).

    Raises:
        DataError: The file is missing or undecodable, the text column is missing or empty.
    """
    detected = TASK.detect_format(path, format)
    if detected == "text":
        return [TextExample(text=line, labels=[], source=where)
                for where, line in text_lines(read_text_file(path, encoding), path)]
    return read_text_examples(path, format=detected, encoding=encoding, text_column=text_column,
                              require_labels=False)


def read(path: str, data: DataConfig, *, require_labels: bool = True) -> list[TextExample]:
    return read_texts(path, format=data.format, encoding=data.encoding, text_column=data.text_column)


def label_list(examples: list[TextExample], data: DataConfig) -> list[str]:
    return []  # the vocabulary is the label set, and the model has it already


def unknown_labels(examples: list[TextExample], labels: list[str]) -> dict[str, int]:
    return {}


def model_kwargs(labels: list[str], data: DataConfig) -> dict[str, Any]:
    return {}


def prepare(tokenizer: Any, model_config: Any, data: DataConfig) -> None:
    """Refuse a tokenizer without a mask token: there would be nothing to mask with."""
    if tokenizer.mask_token is None:
        name = getattr(model_config, "name_or_path", "") or "the model"
        raise ModelError(f"{name}'s tokenizer has no mask token, so it cannot be trained as a masked language "
                         f"model; use an encoder such as BERT or RoBERTa (model: builtin:minilm)")


# -- encoding and masking ---------------------------------------------------------------------
def masker(tokenizer: Any, data: DataConfig, seed: int | None = None) -> Any:
    """transformers' collator that chooses the masked tokens; ``seed`` None draws from torch's
    global generator (seeded by ``training.seed``)."""
    from transformers import DataCollatorForLanguageModeling

    # Whole words are always replaced by [MASK]: the collator refuses random replacement for them.
    replace = {"mask_replace_prob": 1.0, "random_replace_prob": 0.0} if data.whole_word_mask else {}
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, whole_word_mask=data.whole_word_mask,
                                               mlm_probability=data.mlm_probability, seed=seed, **replace)
    if seed is not None:  # the collator's own call makes its generator; masked_batch calls the masking directly
        collator.create_rng()
    return collator


def masked_batch(collator: Any, features: list[dict], pad_token_id: int) -> tuple[Any, Any, Any]:
    """(input ids with masks, labels, attention mask) of ``features``' unmasked windows, padded;
    each (batch, width). Padding is special to the collator, so it is never masked."""
    rows = [f["source_ids"] for f in features]
    ids, attention = pad(rows, pad_token_id), pad([[1] * len(r) for r in rows], 0)
    special = pad([f["special_tokens_mask"] for f in features], 1)
    offsets = np.zeros((len(rows), ids.shape[1], 2), dtype=np.int64)
    for i, f in enumerate(features):
        offsets[i, : len(f["offset_mapping"])] = f["offset_mapping"]
    masked, labels = collator.torch_mask_tokens(ids, special_tokens_mask=special, offset_mapping=offsets)
    return masked, labels, attention


def encode(examples: list[TextExample], tokenizer: Any, labels: list[str], max_length: int,
           stride: int, data: DataConfig) -> list[dict]:
    """Windows of each text, unmasked (``source_ids``, with what masking needs) and masked once
    (``input_ids``, ``labels``): how dev and test are scored; training batches mask anew."""
    encoded = tokenizer([ex.text for ex in examples], truncation=True, max_length=max_length, stride=0,
                        return_overflowing_tokens=True, return_offsets_mapping=True,
                        return_special_tokens_mask=True)
    features = [{"source_ids": encoded["input_ids"][row], "offset_mapping": encoded["offset_mapping"][row],
                 "special_tokens_mask": encoded["special_tokens_mask"][row], "example": index}
                for row, index in enumerate(encoded["overflow_to_sample_mapping"])]
    collator = masker(tokenizer, data, seed=DEV_MASK_SEED)
    for start in range(0, len(features), MASK_CHUNK):
        chunk = features[start:start + MASK_CHUNK]
        masked, masked_labels, _ = masked_batch(collator, chunk, tokenizer.pad_token_id or 0)
        for row, feature in enumerate(chunk):
            width = len(feature["source_ids"])
            feature["input_ids"] = masked[row, :width].tolist()
            feature["labels"] = masked_labels[row, :width].tolist()
    return features


def collate(features: list[dict], pad_token_id: int) -> dict[str, Any]:
    """A batch of the masks fixed at encoding (evaluation)."""
    return {"input_ids": pad([f["input_ids"] for f in features], pad_token_id),
            "attention_mask": pad([[1] * len(f["input_ids"]) for f in features], 0),
            "labels": pad([f["labels"] for f in features], IGNORE)}


def training_collate(tokenizer: Any, data: DataConfig, pad_token_id: int) -> Callable[[list[dict]], dict]:
    """Training batches, masked anew each time one is drawn."""
    collator = masker(tokenizer, data)

    def collate_training(features: list[dict]) -> dict[str, Any]:
        # A batch with no masked token has no loss (a NaN mean); draw again, a few times at most.
        for _ in range(8):
            input_ids, labels, attention_mask = masked_batch(collator, features, pad_token_id)
            if bool((labels != IGNORE).any()):
                break
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    return collate_training


# -- scoring ----------------------------------------------------------------------------------
def reduce_outputs(outputs: Any, batch: dict[str, Any]) -> np.ndarray:
    """(batch, 3) summed loss, masked-token count and correct predictions per row: kept instead of
    the (batch, seq, vocab) logits."""
    import torch

    targets = batch["labels"]  # (batch, seq)
    masked = targets != IGNORE
    picked, gold = outputs.logits[masked].float(), targets[masked]  # (masked tokens, vocab), (masked tokens,)
    losses = torch.nn.functional.cross_entropy(picked, gold, reduction="none")
    correct = (picked.argmax(-1) == gold).float()
    rows = masked.nonzero()[:, 0]
    per_row = [torch.zeros(targets.shape[0], device=targets.device).index_add_(0, rows, values)
               for values in (losses, torch.ones_like(losses), correct)]
    return torch.stack(per_row, 1).cpu().numpy()


def evaluate(examples: list[TextExample], features: list[dict], logits: list[np.ndarray],
             labels: list[str], data: DataConfig, mode: str) -> tuple[dict, dict[str, float]]:
    loss_sum, tokens, correct = np.sum(logits, axis=0) if logits else (0.0, 0.0, 0.0)
    if tokens:
        loss = float(loss_sum / tokens)
        metrics = {"loss": loss, "perplexity": math.exp(loss), "accuracy": float(correct / tokens)}
    else:
        metrics = {"loss": float("nan"), "perplexity": float("nan"), "accuracy": float("nan")}
    report = {"task": TASK.name, "examples": len(examples), "metrics": {**metrics, "masked_tokens": int(tokens)}}
    return report, metrics


# -- prediction -------------------------------------------------------------------------------
NOT_A_PREDICTOR = ("a masked-lm model is an adapted encoder, not a predictor; fine-tune it on a task with model: set "
                   "to its directory (see docs/domain-adaptation.md), or score text with whet eval")


def predictions(examples: list[TextExample], features: list[dict], logits: list[np.ndarray],
                labels: list[str], data: DataConfig) -> list[dict]:
    raise DataError(NOT_A_PREDICTOR)


def prediction_inputs(records: list[Any], data: DataConfig) -> list[TextExample]:
    raise DataError(NOT_A_PREDICTOR)


TASK = Task(
    name="masked-lm", auto_class="AutoModelForMaskedLM", peft_task_type=None,
    formats=("text", "jsonl", "csv", "tsv"),
    extensions={".txt": "text", ".text": "text", ".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv"},
    metrics=("loss", "perplexity", "accuracy"), default_metric="loss",
    read=read, label_list=label_list, unknown_labels=unknown_labels, model_kwargs=model_kwargs, encode=encode,
    collate=collate, evaluate=evaluate, predictions=predictions, prediction_inputs=prediction_inputs,
    pipeline_tag="fill-mask", prepare=prepare, reduce_outputs=reduce_outputs, training_collate=training_collate,
)
