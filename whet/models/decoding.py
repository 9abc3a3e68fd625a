"""Text generation with a causal language model: the decoding behind ``whet generate``, the
server's generation routes and the causal-lm task's evaluation.

``generate`` returns one completion per prompt, batched with left padding;
``generate_stream`` yields the completion of one prompt in pieces as they are produced.
Both take a model and tokenizer loaded once (``whet.generate.load_generator``), so a server can
load at start-up and call them per request. A prompt is plain text, or a chat (a list of
``{"role", "content"}`` messages) rendered with the tokenizer's chat template.

Prompts are tokenised here the same way the causal-lm task tokenises prompts for training
(``prompt_ids``), so a fine-tuned model sees at generation exactly what it was trained on.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import torch

from whet.errors import ConfigError, DataError, ModelError

Prompt = Union[str, list[dict]]

# torch.manual_seed takes no seed outside these (it raises on the rest).
SEED_MIN, SEED_MAX = -2**63, 2**64 - 1
# Below this, float32 logits divided by the temperature can overflow (a logit of 1 does below
# about 3e-39) and sampling fails on NaN; a temperature this small samples the likeliest token anyway.
MIN_TEMPERATURE = 1e-6
# transformers' stop-string matching walks the whole vocabulary once per character of each stop
# string: 4 strings of 256 characters cost about 5 s of CPU with a 30k vocabulary (of 16: 0.6 s),
# and 30 of 2,000 held a tiny test model for over 40 s. Stop strings are short markers ("\n\n",
# "User:"), so longer ones are refused.
MAX_STOP_CHARS = 256


@dataclass
class GenerationSettings:
    """How to decode. Greedy unless ``sample``; sampling settings left as None take the
    model's own defaults (its ``generation_config.json``). The bounds above are checked here,
    so the command line, the Python API and the server refuse the same values."""

    max_new_tokens: int = 128
    sample: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None  # 0 turns top-k filtering off
    seed: int | None = None  # makes sampling repeatable
    stop: list[str] = field(default_factory=list)  # the completion ends before the first of these

    def __post_init__(self) -> None:
        problems = []
        if self.max_new_tokens < 1:
            problems.append(f"max_new_tokens must be at least 1 (got {self.max_new_tokens})")
        if self.temperature is not None and not self.temperature >= MIN_TEMPERATURE:  # NaN included
            problems.append(f"temperature must be at least {MIN_TEMPERATURE:g} (got {self.temperature}), as "
                            f"smaller ones overflow the scaled logits; for greedy decoding leave sampling off")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1] (got {self.top_p})")
        if self.top_k is not None and self.top_k < 0:
            problems.append(f"top_k must be 0 (off) or more (got {self.top_k})")
        if self.seed is not None and not SEED_MIN <= self.seed <= SEED_MAX:
            # The value is not repeated: it may have thousands of digits.
            problems.append("seed must be from -2**63 to 2**64 - 1, the 64-bit range torch's generator takes")
        if not self.sample and (self.temperature, self.top_p, self.top_k) != (None, None, None):
            problems.append("temperature, top_p and top_k apply to sampling; turn sampling on (--sample)")
        if any(not s for s in self.stop):
            problems.append("stop strings must not be empty")
        too_long = [f"stop string {number} has {len(s)}" for number, s in enumerate(self.stop, 1)
                    if len(s) > MAX_STOP_CHARS]
        if too_long:
            problems.append(f"stop strings are at most {MAX_STOP_CHARS} characters: {', '.join(too_long)}")
        if problems:
            raise ConfigError("; ".join(problems))


# -- loading ------------------------------------------------------------------------------------

def check_causal_lm(model_config: Any, name: str) -> None:
    """Refuse models ``AutoModelForCausalLM`` would load but that are not decoders (BERT-like
    encoders load as a decoder head and generate noise) or that it cannot load at all."""
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    kind = getattr(model_config, "model_type", "")
    if kind not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or (
            kind in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(model_config, "is_decoder", False)):
        raise ModelError(f"model '{name}' ({kind or 'unknown type'}) is not a causal language model; use a "
                         f"GPT-2, Llama-style or other decoder model (AutoModelForCausalLM)")


def ensure_pad_token(tokenizer: Any) -> None:
    """Batches need a pad token; causal LMs often ship none, and their end-of-sequence token
    serves (padded positions are masked out of attention and loss)."""
    if tokenizer.eos_token_id is None:
        raise ModelError("the tokenizer has no end-of-sequence token, so generation could not learn to stop; "
                         "use a tokenizer with eos_token set")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token


# -- prompts ------------------------------------------------------------------------------------

TEMPLATE_FIX = "give plain-text prompts, or use a model whose tokenizer has one (train with data.chat_template)"


def require_chat_template(tokenizer: Any, where: str, fix: str = TEMPLATE_FIX) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise DataError(f"{where}: 'messages' need a chat template and this model's tokenizer has none; {fix}")


def prompt_ids(tokenizer: Any, prompt: Prompt, *, chat: bool = False, where: str = "prompt") -> list[int]:
    """Token ids that a completion continues: plain text as the tokenizer encodes it (with its
    special tokens, e.g. a BOS), or a chat rendered up to the assistant's turn."""
    if isinstance(prompt, str) and not chat:
        return tokenizer(prompt, add_special_tokens=True)["input_ids"]
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    require_chat_template(tokenizer, where)
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    # The template writes its own special tokens (BOS, turn markers) into the text.
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def position_limit(model: Any) -> int | None:
    limit = getattr(model.config, "max_position_embeddings", None)
    return limit if isinstance(limit, int) and limit > 0 else None


def _encode_prompts(model: Any, tokenizer: Any, prompts: Sequence[Prompt], settings: GenerationSettings,
                    chat: bool, where: Sequence[str] | None) -> list[list[int]]:
    limit = position_limit(model)
    rows = []
    for number, prompt in enumerate(prompts, 1):
        name = where[number - 1] if where else f"prompt {number}"
        ids = prompt_ids(tokenizer, prompt, chat=chat, where=name)
        if not ids:
            raise DataError(f"{name}: the prompt is empty; give some text to continue")
        if limit is not None and len(ids) + settings.max_new_tokens > limit:
            raise DataError(f"{name}: the prompt has {len(ids)} tokens, and with max_new_tokens "
                            f"{settings.max_new_tokens} that exceeds the model's limit of {limit} positions; "
                            f"shorten the prompt or lower max_new_tokens")
        rows.append(ids)
    return rows


# -- decoding -----------------------------------------------------------------------------------

def stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """End-of-sequence ids: the tokenizer's and the model's (chat models often end turns with
    their own token, e.g. <|eot_id|>, listed in the generation config)."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = configured if isinstance(configured, list) else [configured]
    return sorted({i for i in [*ids, tokenizer.eos_token_id] if i is not None})


def generation_kwargs(model: Any, tokenizer: Any, settings: GenerationSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"max_new_tokens": settings.max_new_tokens, "do_sample": settings.sample,
                              "eos_token_id": stop_ids(model, tokenizer), "pad_token_id": tokenizer.pad_token_id}
    if settings.sample:
        kwargs.update({k: v for k, v in (("temperature", settings.temperature), ("top_p", settings.top_p),
                                         ("top_k", settings.top_k)) if v is not None})
    if settings.stop:
        # transformers stops each row once its text ends with a stop string; the text is cut below.
        kwargs.update(stop_strings=list(settings.stop), tokenizer=tokenizer)
    return kwargs


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to (not including) the earliest stop string in it."""
    ends = [i for i in (text.find(s) for s in stop) if i >= 0]
    return text[: min(ends)] if ends else text


def _held_back(text: str, stop: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that could still grow into a stop string."""
    longest = 0
    for s in stop:
        for size in range(min(len(s) - 1, len(text)), longest, -1):
            if text.endswith(s[:size]):
                longest = size
                break
    return longest


@contextlib.contextmanager
def _generating(model: Any, seed: int | None) -> Iterator[None]:
    """Eval mode (dropout off, so greedy decoding is deterministic) and, with a seed, a seeded
    random stream that leaves the caller's generator state as it was."""
    was_training = model.training
    model.eval()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices, enabled=seed is not None), torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            yield
    finally:
        model.train(was_training)


def _left_padded(rows: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, width) ids and attention mask, padded on the left so every row ends where
    generation starts."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row):] = 1
    return ids.to(device), mask.to(device)


@dataclass
class Completion:
    """One prompt's completion with what an API reports beside the text."""

    text: str
    prompt_tokens: int
    completion_tokens: int  # generated tokens, an end-of-sequence token included
    finish_reason: str  # "stop": end of sequence or a stop string; "length": max_new_tokens reached


def _completion(tokenizer: Any, new_ids: Sequence[int], prompt_tokens: int, ends: set[int],
                settings: GenerationSettings) -> Completion:
    """The completion of one row of generated ids (``new_ids``, padding after its end included)."""
    ids = list(new_ids)
    end = next((i for i, token in enumerate(ids) if token in ends), None)
    text = tokenizer.decode(ids if end is None else ids[:end], skip_special_tokens=True)
    cut = cut_at_stop(text, settings.stop)
    if len(cut) < len(text):
        # Generation ended with the stop string's last token (rows padded after it are not counted).
        count = len(ids) if end is None else end
        return Completion(cut, prompt_tokens, count, "stop")
    if end is not None:
        return Completion(text, prompt_tokens, end + 1, "stop")
    return Completion(text, prompt_tokens, len(ids), "length")


def _row_ends(kwargs: dict[str, Any], tokenizer: Any) -> set[int]:
    """Ids after which a generated row holds nothing more: its end-of-sequence ids and padding."""
    return set(kwargs["eos_token_id"]) | {tokenizer.pad_token_id}


def complete(model: Any, tokenizer: Any, prompts: Sequence[Prompt], settings: GenerationSettings | None = None,
             *, chat: bool = False, batch_size: int = 8, where: Sequence[str] | None = None) -> list[Completion]:
    """Like ``generate``, with token counts and why each completion ended."""
    settings = settings or GenerationSettings()
    rows = _encode_prompts(model, tokenizer, prompts, settings, chat, where)
    kwargs = generation_kwargs(model, tokenizer, settings)
    ends = _row_ends(kwargs, tokenizer)
    device = next(model.parameters()).device
    completions = []
    with _generating(model, settings.seed):
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            ids, mask = _left_padded(batch, tokenizer.pad_token_id, device)
            output = model.generate(input_ids=ids, attention_mask=mask, **kwargs)  # (batch, width + new)
            for prompt, row in zip(batch, output[:, ids.shape[1]:].tolist()):
                completions.append(_completion(tokenizer, row, len(prompt), ends, settings))
    return completions


def generate(model: Any, tokenizer: Any, prompts: Sequence[Prompt], settings: GenerationSettings | None = None,
             *, chat: bool = False, batch_size: int = 8, where: Sequence[str] | None = None) -> list[str]:
    """One completion per prompt, in order: the generated text only, without the prompt,
    cut before the first stop string; generation of a row ends at its end-of-sequence token.

    Args:
        model: A causal LM (or peft model) from ``load_generator``.
        tokenizer: Its tokenizer, with a pad token (``ensure_pad_token``).
        prompts: Plain texts, or chats (lists of ``{"role", "content"}``) ending with the turn
            to reply to.
        settings: Decoding settings; greedy with 128 new tokens by default.
        chat: Render plain-text prompts as one user message with the chat template.
        batch_size: Prompts generated together.
        where: A name per prompt for error messages (e.g. "file:line"); default "prompt N".

    Example:
        >>> model, tokenizer = load_generator("runs/my-lm/model")
        >>> generate(model, tokenizer, ["count:"], GenerationSettings(max_new_tokens=8))
        [' one two three four']
    """
    return [c.text for c in complete(model, tokenizer, prompts, settings, chat=chat, batch_size=batch_size,
                                     where=where)]


def generate_stream(model: Any, tokenizer: Any, prompt: Prompt, settings: GenerationSettings | None = None,
                    *, chat: bool = False, finished: Callable[[Completion], None] | None = None) -> Iterator[str]:
    """The completion of one prompt in pieces, as they are generated; joined, the pieces equal
    what ``generate`` returns. Closing the iterator early stops the generation.

    ``finished``, if given, is called with the whole ``Completion`` (token counts, finish
    reason) once the last piece has been yielded; not when the iterator is closed early.

    Example:
        >>> for piece in generate_stream(model, tokenizer, "count:"):
        ...     print(piece, end="", flush=True)
    """
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    settings = settings or GenerationSettings()
    [row] = _encode_prompts(model, tokenizer, [prompt], settings, chat, None)
    ids, mask = _left_padded([row], tokenizer.pad_token_id, next(model.parameters()).device)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    kwargs = generation_kwargs(model, tokenizer, settings)
    cancelled = threading.Event()
    errors: list[BaseException] = []
    outputs: list[torch.Tensor] = []

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
            return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool, device=input_ids.device)

    def run() -> None:
        try:
            with _generating(model, settings.seed):
                outputs.append(model.generate(input_ids=ids, attention_mask=mask, streamer=streamer,
                                              stopping_criteria=StoppingCriteriaList([Cancelled()]), **kwargs))
        except BaseException as err:  # handed to the reading thread, which would otherwise wait forever
            errors.append(err)
            streamer.end()

    # generate() runs in a thread and feeds the streamer's queue; this generator reads it.
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    pending = ""
    done = False
    try:
        for piece in streamer:
            pending += piece
            cut = cut_at_stop(pending, settings.stop)
            if len(cut) < len(pending):  # a stop string: emit what precedes it, and finish
                if cut:
                    yield cut
                pending = ""
                break
            ready = len(pending) - _held_back(pending, settings.stop)
            if ready:
                yield pending[:ready]
                pending = pending[ready:]
        if pending:
            yield pending
        done = True
    finally:
        cancelled.set()
        worker.join()
    if errors:
        raise errors[0]
    if done and finished is not None and outputs:
        finished(_completion(tokenizer, outputs[0][0, ids.shape[1]:].tolist(), len(row), _row_ends(kwargs, tokenizer),
                             settings))
