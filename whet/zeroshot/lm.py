"""Log-probabilities of chosen tokens at chosen positions under a language model.

Causal and masked-LM modes both reduce to this: run token sequences through the model and
sum ``log p(token at position)`` over a few (position, token) pairs, one sum per query
(a verbalizer). Sequences are batched by length under a token budget.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from whet.data.token_batches import length_grouped_batches
from whet.tasks.padding import pad

Query = list[tuple[int, int]]  # (position whose prediction is read, token id); log-probs are summed


def query_logprobs(model: Any, sequences: list[list[int]], queries: list[list[Query]], *, pad_id: int,
                   device: torch.device, max_tokens: int = 2048) -> list[np.ndarray]:
    """For each sequence, the summed log-probability of each of its queries.

    Only the logits at queried positions are turned into log-probabilities, so a large
    vocabulary costs memory only once, in the model's own output.
    """
    results: list[np.ndarray] = [np.zeros(0)] * len(sequences)
    lengths = [len(s) for s in sequences]
    with torch.inference_mode():
        for batch in length_grouped_batches(lengths, 64, max_tokens, shuffle=False):
            rows = [sequences[i] for i in batch]
            input_ids = pad(rows, pad_id).to(device)
            attention_mask = pad([[1] * len(row) for row in rows], 0).to(device)
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits  # (batch, seq, vocab)
            for row, index in enumerate(batch):
                pairs = [pair for query in queries[index] for pair in query]
                positions = torch.tensor([p for p, _ in pairs], device=device)
                tokens = torch.tensor([t for _, t in pairs], device=device)
                logp = torch.log_softmax(logits[row, positions].float(), dim=-1)  # (pairs, vocab)
                picked = logp.gather(1, tokens[:, None]).squeeze(1).cpu().numpy()
                starts = np.cumsum([0] + [len(q) for q in queries[index]])[:-1]
                results[index] = np.add.reduceat(picked, starts)
    return results


def load_language_model(auto_class: str, name: str, device: torch.device) -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode on ``device``, weights from safetensors."""
    import transformers

    from whet.models.pretrained import load_model, load_tokenizer

    tokenizer = load_tokenizer(name)
    model = load_model(getattr(transformers, auto_class), name).to(device).eval()
    return model, tokenizer


def pad_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0
