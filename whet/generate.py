"""``whet generate``: load a causal language model, generate for prompts or the records of a file.

The decoding itself (``generate``, ``generate_stream``, ``complete``, ``GenerationSettings``) lives
in ``whet.models.decoding``, below the tasks, whose causal-lm evaluation generates too; it is
importable from here as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from whet.errors import ModelError
from whet.models.decoding import (MAX_STOP_CHARS, MIN_TEMPERATURE, SEED_MAX, SEED_MIN, Completion,
                                    GenerationSettings, Prompt, check_causal_lm, complete, ensure_pad_token,
                                    generate, generate_stream, prompt_ids)

__all__ = ["MAX_STOP_CHARS", "MIN_TEMPERATURE", "SEED_MAX", "SEED_MIN", "Completion", "GenerationSettings",
           "Prompt", "complete", "generate", "generate_records", "generate_stream", "load_generator", "prompt_ids"]


def load_generator(name: str | Path) -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode on the best device, from a whet causal-lm model
    directory, or any causal LM: a local directory, a hub id, or a ``builtin:`` name."""
    import transformers

    from whet.models.pretrained import load_config, load_model, load_tokenizer
    from whet.models.saved_model import METADATA, load_saved_model, read_info
    from whet.tasks import TASKS

    name = str(name)
    if (Path(name) / METADATA).is_file() or Path(name + ".old", METADATA).is_file():
        info = read_info(Path(name))
        if not TASKS.get(info.task).generates:
            raise ModelError(f"{name} is a {info.task} model; whet generate needs a causal-lm model "
                             f"(use whet predict for this one)")
        model, tokenizer, _ = load_saved_model(Path(name))
    else:
        check_causal_lm(load_config(name), name)
        tokenizer = load_tokenizer(name)
        model = load_model(transformers.AutoModelForCausalLM, name)
    ensure_pad_token(tokenizer)
    model.to(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    model.eval()
    return model, tokenizer


def generate_records(model: Any, tokenizer: Any, inputs: Iterable[tuple[str, dict, Prompt]],
                     settings: GenerationSettings | None = None, *, chat: bool = False,
                     batch_size: int = 8) -> Iterator[dict]:
    """``{**record, "generated": text}`` for each ``(name, record, prompt)`` input, in order,
    reading the inputs lazily one batch at a time (an input file of any size)."""
    batch: list[tuple[str, dict, Prompt]] = []
    for item in inputs:
        batch.append(item)
        if len(batch) == batch_size:
            yield from _generated_records(model, tokenizer, batch, settings, chat)
            batch = []
    if batch:
        yield from _generated_records(model, tokenizer, batch, settings, chat)


def _generated_records(model: Any, tokenizer: Any, batch: list[tuple[str, dict, Prompt]],
                       settings: GenerationSettings | None, chat: bool) -> Iterator[dict]:
    texts = generate(model, tokenizer, [prompt for _, _, prompt in batch], settings, chat=chat,
                     batch_size=len(batch), where=[name for name, _, _ in batch])
    for (_, record, _), text in zip(batch, texts):
        yield {**record, "generated": text}
