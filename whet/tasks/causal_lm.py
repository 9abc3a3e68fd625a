"""Causal language modelling (GPT-2, Llama-style, any ``AutoModelForCausalLM``): continued
training on documents, and instruction tuning on prompt/response pairs or chats.

Encoding: a document is trained on whole and split into windows of ``max_length`` tokens
(no overlap). A prompt/response pair is the prompt's tokens (as ``whet.models.decoding`` encodes a
prompt) followed by the response's, and only the response is labelled. A chat is rendered
with the tokenizer's chat template; each assistant turn is located by rendering the chat up
to it, and only assistant turns are labelled. Every document, response and assistant turn
ends with the end-of-sequence token (unless the template already puts it there), so the
model learns where to stop. The first label of each sequence is -100: nothing predicts it.

Packing (``data.packing``) concatenates sequences into rows of at most ``max_length``
tokens. Positions restart at 0 for each sequence and the batch carries no attention mask:
from those position ids transformers (v5, ``masking_utils.find_packed_sequence_indices``)
builds a block-diagonal causal mask for eager and SDPA attention, and flash attention reads
the sequence boundaries from them, so no token attends across a boundary. This needs
``use_cache=False``: with a cache, transformers skips the packed-sequence detection.

Metrics: loss and perplexity over the labelled tokens; with ``eval.generate``, exact match
and ROUGE-L of greedy replies against the reference replies.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from whet.data.causal_lm import read_lm_examples
from whet.data.examples import LMExample
from whet.data.settings import DataConfig
from whet.errors import DataError
from whet.tasks.base import Task
from whet.tasks.padding import pad

log = logging.getLogger("whet")

IGNORE = -100
SAMPLES = 5  # generated replies shown in a report


def reference_pair(example: LMExample) -> tuple[str | list[dict], str] | None:
    """(prompt, reference reply) of an example, or None when it has no reply to compare with."""
    if example.prompt is not None:
        return example.prompt, example.response
    if example.messages and example.messages[-1]["role"] == "assistant":
        return example.messages[:-1], example.messages[-1]["content"]
    return None


def document_windows(tokenizer: Any, text: str, max_length: int) -> list[tuple[list[int], list[int]]]:
    """(ids, labels) windows of a document followed by the end-of-sequence token."""
    ids = tokenizer(text, add_special_tokens=True)["input_ids"] + [tokenizer.eos_token_id]
    windows = []
    for start in range(0, len(ids), max_length):
        chunk = ids[start:start + max_length]
        if len(chunk) > 1:  # a lone token has nothing to predict
            windows.append((chunk, [IGNORE] + chunk[1:]))
    return windows


def response_tokens(tokenizer: Any, prompt: str, response: str) -> tuple[list[int], list[int]]:
    from whet.models.decoding import prompt_ids

    start = prompt_ids(tokenizer, prompt)
    reply = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return start + reply, [IGNORE] * len(start) + reply


def assistant_spans(tokenizer: Any, messages: list[dict], where: str) -> tuple[str, list[tuple[int, int]]]:
    """The rendered chat and the character span of each assistant turn in it.

    A turn's span starts where the chat rendered up to it, with the assistant's header
    (``add_generation_prompt``), ends and stops where the chat rendered through it ends.
    """
    def render(part: list[dict], header: bool) -> str:
        return tokenizer.apply_chat_template(part, add_generation_prompt=header, tokenize=False)

    full = render(messages, False)
    spans = []
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before, through = render(messages[:k], True), render(messages[:k + 1], False)
        if not (full.startswith(before) and full.startswith(through) and len(before) <= len(through)):
            raise DataError(f"{where}: the chat template renders earlier turns differently once later turns are "
                            f"added, so the assistant turns cannot be located; set data.chat_template to a template "
                            f"without that behaviour, or give the data as prompt/response")
        spans.append((len(before), len(through)))
    return full, spans


def chat_tokens(tokenizer: Any, messages: list[dict], where: str) -> tuple[list[int], list[int]]:
    from whet.models.decoding import require_chat_template

    require_chat_template(tokenizer, where, "set data.chat_template to a Jinja template, or give the text as "
                                            "prompt/response")
    full, spans = assistant_spans(tokenizer, messages, where)
    # The template wrote its own special tokens into the text (as apply_chat_template tokenises it).
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    token_ids = encoded["input_ids"]
    owner = [next((j for j, (s, e) in enumerate(spans) if s <= start < e), None)
             for start, _ in encoded["offset_mapping"]]
    eos = tokenizer.eos_token_id
    ends_with_eos = {j: any(t == eos for t, o in zip(token_ids, owner) if o == j) for j in range(len(spans))}
    ids: list[int] = []
    labels: list[int] = []
    for i, (token, j) in enumerate(zip(token_ids, owner)):
        ids.append(token)
        labels.append(IGNORE if j is None else token)
        turn_ends = j is not None and (i + 1 == len(owner) or owner[i + 1] != j)
        if turn_ends and not ends_with_eos[j]:  # the template does not end turns with EOS: teach it
            ids.append(eos)
            labels.append(eos)
    return ids, labels


def pack(sequences: list[tuple[int, list[int], list[int]]], max_length: int) -> list[dict]:
    """Rows of whole sequences, in order, each at most ``max_length`` tokens, with positions
    restarting at every sequence."""
    rows: list[dict] = []
    row: dict | None = None
    for index, ids, labels in sequences:
        if row is None or len(row["input_ids"]) + len(ids) > max_length:
            row = {"input_ids": [], "labels": [], "position_ids": [], "examples": []}
            rows.append(row)
        row["input_ids"] += ids
        row["labels"] += labels
        row["position_ids"] += list(range(len(ids)))
        row["examples"].append(index)
    return rows


# -- data -------------------------------------------------------------------------------------
def read_lm_file(path: str | Path, *, format: str = "auto", encoding: str = "utf-8",
                 text_column: str = "text") -> list[LMExample]:
    """Read a causal-lm data file (plain text or JSON Lines) into examples, in file order.

    Raises:
        DataError: A record has none of the known fields, a field has the wrong type or is
            empty, or a chat is malformed; the message names the file and line.
    """
    return read_lm_examples(path, TASK.detect_format(path, format), encoding=encoding, text_column=text_column)


def read(path: str, data: DataConfig, *, require_labels: bool = True) -> list[LMExample]:
    return read_lm_file(path, format=data.format, encoding=data.encoding, text_column=data.text_column)


def label_list(examples: list[LMExample], data: DataConfig) -> list[str]:
    return []  # the vocabulary is the label set, and the model has it already


def unknown_labels(examples: list[LMExample], labels: list[str]) -> dict[str, int]:
    return {}


def model_kwargs(labels: list[str], data: DataConfig) -> dict[str, Any]:
    return {}


def prepare(tokenizer: Any, model_config: Any, data: DataConfig) -> None:
    """Refuse encoders, give the tokenizer a pad token, and install ``data.chat_template``
    (it is saved with the tokenizer, so generation renders chats the same way)."""
    from whet.models.decoding import check_causal_lm, ensure_pad_token

    check_causal_lm(model_config, getattr(model_config, "name_or_path", "") or "the model")
    ensure_pad_token(tokenizer)
    if data.chat_template:
        tokenizer.chat_template = data.chat_template


# -- encoding ---------------------------------------------------------------------------------
def encode(examples: list[LMExample], tokenizer: Any, labels: list[str], max_length: int,
           stride: int, data: DataConfig) -> list[dict]:
    sequences: list[tuple[int, list[int], list[int]]] = []
    truncated = dropped = 0
    for index, ex in enumerate(examples):
        if ex.text is not None:
            sequences += [(index, ids, labs) for ids, labs in document_windows(tokenizer, ex.text, max_length)]
            continue
        if ex.messages is not None:
            ids, labs = chat_tokens(tokenizer, ex.messages, ex.source)
        else:
            ids, labs = response_tokens(tokenizer, ex.prompt, ex.response)
        if len(ids) > max_length:
            truncated += 1
            ids, labs = ids[:max_length], labs[:max_length]
            if all(label == IGNORE for label in labs[1:]):
                dropped += 1
                continue
        labs[0] = IGNORE
        sequences.append((index, ids, labs))
    if truncated:
        log.warning("%d example(s) longer than %d tokens were cut to fit (%d dropped: the prompt alone fills "
                    "the window); raise data.max_length to keep them whole", truncated, max_length, dropped)
    if data.packing:
        return pack(sequences, max_length)
    return [{"input_ids": ids, "labels": labs, "example": index} for index, ids, labs in sequences]


def collate(features: list[dict], pad_token_id: int) -> dict[str, Any]:
    import torch

    ids = pad([f["input_ids"] for f in features], pad_token_id)  # (batch, width)
    # No cache in training or scoring; with one, transformers would also ignore packing.
    batch: dict[str, Any] = {"input_ids": ids, "labels": pad([f["labels"] for f in features], IGNORE),
                             "use_cache": False}
    if "position_ids" in features[0]:
        # Packed rows: positions restart at each sequence and no attention mask is given, which
        # transformers reads as packed sequences. Padding continues as one more sequence from 0.
        width = ids.shape[1]
        batch["position_ids"] = torch.tensor(
            [f["position_ids"] + list(range(width - len(f["position_ids"]))) for f in features])
    else:
        batch["attention_mask"] = pad([[1] * len(f["input_ids"]) for f in features], 0)
    return batch


# -- scoring ----------------------------------------------------------------------------------
def reduce_outputs(outputs: Any, batch: dict[str, Any]) -> np.ndarray:
    """(batch, 2) summed token loss and labelled-token count per row: kept instead of the
    (batch, seq, vocab) logits, which would not fit in memory for a dev set."""
    import torch

    # Prompt-learning methods put their virtual tokens in front: their outputs predict nothing.
    virtual = outputs.logits.shape[1] - batch["labels"].shape[1]
    logits = outputs.logits[:, virtual:-1].float()  # (batch, seq - 1, vocab): position t predicts t + 1
    targets = batch["labels"][:, 1:]
    losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=IGNORE,
                                               reduction="none")  # (batch, seq - 1)
    return torch.stack([losses.sum(1), (targets != IGNORE).sum(1).float()], 1).cpu().numpy()


def evaluate(examples: list[LMExample], features: list[dict], logits: list[np.ndarray],
             labels: list[str], data: DataConfig, mode: str) -> tuple[dict, dict[str, float]]:
    loss_sum, tokens = np.sum(logits, axis=0) if logits else (0.0, 0.0)
    loss = float(loss_sum / tokens) if tokens else float("nan")
    metrics = {"loss": loss, "perplexity": math.exp(loss) if tokens else float("nan")}
    report = {"task": TASK.name, "examples": len(examples), "metrics": {**metrics, "tokens": int(tokens)}}
    return report, metrics


def generation_metrics(model: Any, tokenizer: Any, examples: list[LMExample], *, max_new_tokens: int,
                       batch_size: int) -> tuple[dict, dict[str, float]]:
    """Greedy replies to the examples that have a reference reply, scored against it:
    (report additions, metrics)."""
    from whet.models.decoding import GenerationSettings, generate
    from whet.metrics.generation import generation_scores

    pairs = [pair for pair in map(reference_pair, examples) if pair is not None]
    if not pairs:
        raise DataError("eval.generate is on, but no evaluated example has a reply to compare with "
                        "(prompt/response, or a chat ending with an assistant message); turn eval.generate off")
    prompts, references = [p for p, _ in pairs], [r for _, r in pairs]
    generated = generate(model, tokenizer, prompts, GenerationSettings(max_new_tokens=max_new_tokens),
                         batch_size=batch_size)
    scores = generation_scores(references, generated)
    samples = [{"prompt": prompt if isinstance(prompt, str) else prompt[-1]["content"], "reference": reference,
                "generated": text} for prompt, reference, text in zip(prompts, references, generated)]
    return {"generation": {"examples": len(pairs), **scores}, "samples": samples[:SAMPLES]}, scores


# -- prediction -------------------------------------------------------------------------------
def predictions(examples: list[LMExample], features: list[dict], logits: list[np.ndarray],
                labels: list[str], data: DataConfig) -> list[dict]:
    raise DataError("causal-lm models generate text; use whet generate MODEL \"prompt\"")


def prediction_inputs(records: list[Any], data: DataConfig) -> list[LMExample]:
    raise DataError("causal-lm models generate text; use whet generate MODEL \"prompt\" "
                    "(or whet.generate.generate in Python)")


TASK = Task(
    name="causal-lm", auto_class="AutoModelForCausalLM", peft_task_type="CAUSAL_LM",
    formats=("text", "jsonl"), extensions={".txt": "text", ".text": "text", ".md": "text", ".jsonl": "jsonl",
                                           ".json": "jsonl"},
    metrics=("loss", "perplexity", "exact_match", "rouge_l"), default_metric="loss",
    read=read, label_list=label_list, unknown_labels=unknown_labels, model_kwargs=model_kwargs, encode=encode,
    collate=collate, evaluate=evaluate, predictions=predictions, prediction_inputs=prediction_inputs,
    # Generation needs a decoding loop that an ONNX graph of one forward pass does not hold: no onnx_outputs.
    generates=True, generated_text_metrics=("exact_match", "rouge_l"), pipeline_tag="text-generation",
    prepare=prepare, reduce_outputs=reduce_outputs, generation_metrics=generation_metrics,
)
