"""New texts from models the user names: back-translation through a pair of seq2seq models
(Sennrich et al., 2016; e.g. Marian's opus-mt-en-de and opus-mt-de-en) and paraphrase through
a causal language model with a prompt. For classification only: a generated text has other
words in another order, so there is no way to carry NER tags over to it word by word."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from whet.models.pretrained import load_model, load_tokenizer


def _device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def translate(name: str, texts: Sequence[str], *, copies: int, batch_size: int, max_new_tokens: int,
              seed: int) -> list[str]:
    """``copies`` translations of each text by the seq2seq model ``name``, text by text (sampled,
    top-p 0.95, when there are several copies so that they differ; greedy for one)."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    tokenizer = load_tokenizer(name, fast=False)  # Marian's tokenizers are SentencePiece, slow only
    model = load_model(AutoModelForSeq2SeqLM, name).to(_device()).eval()
    sample = {"do_sample": True, "top_p": 0.95} if copies > 1 else {"do_sample": False, "num_beams": 1}
    out: list[str] = []
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(seed)
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start:start + batch_size]), return_tensors="pt", padding=True,
                              truncation=True).to(model.device)
            # Only ids and mask: a tokenizer's extras (token_type_ids) are not every model's inputs.
            ids = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=max_new_tokens, num_return_sequences=copies, **sample)
            out += tokenizer.batch_decode(ids, skip_special_tokens=True)  # (batch * copies) texts, text by text
    return [text.strip() for text in out]


def back_translate(texts: Sequence[str], to_model: str, back_model: str, *, copies: int, batch_size: int,
                   max_new_tokens: int, seed: int) -> list[list[str]]:
    """For each text, ``copies`` texts translated into the pivot language by ``to_model`` and back by
    ``back_model``."""
    pivots = translate(to_model, texts, copies=copies, batch_size=batch_size, max_new_tokens=max_new_tokens, seed=seed)
    back = translate(back_model, pivots, copies=1, batch_size=batch_size, max_new_tokens=max_new_tokens, seed=seed)
    return [back[i * copies:(i + 1) * copies] for i in range(len(texts))]


def paraphrase(texts: Sequence[str], model_name: str, prompt: str, *, copies: int, batch_size: int,
               max_new_tokens: int, seed: int) -> list[list[str]]:
    """For each text, ``copies`` sampled replies of the causal LM ``model_name`` to ``prompt`` with the
    text in place of ``{text}``; each reply's first line."""
    from transformers import AutoModelForCausalLM

    from whet.models.decoding import GenerationSettings, check_causal_lm, ensure_pad_token, generate
    from whet.models.pretrained import load_config

    check_causal_lm(load_config(model_name), model_name)
    tokenizer = load_tokenizer(model_name)
    ensure_pad_token(tokenizer)
    model = load_model(AutoModelForCausalLM, model_name).to(_device())
    prompts = [prompt.replace("{text}", text) for text in texts]
    settings = GenerationSettings(max_new_tokens=max_new_tokens, sample=True, top_p=0.95, seed=seed, stop=["\n"])
    # Copy after copy of every prompt: one seeded stream, so the copies of a text differ.
    replies = generate(model, tokenizer, prompts * copies, settings, batch_size=batch_size)
    return [[replies[c * len(texts) + i].strip() for c in range(copies)] for i in range(len(texts))]
