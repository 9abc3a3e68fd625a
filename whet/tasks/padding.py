"""Padding lists of token ids into batch tensors (shared by the tasks' collate functions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def pad(rows: list[list[int]], value: int, width: int | None = None) -> torch.Tensor:
    """(batch, width) long tensor of ``rows`` right-padded with ``value``."""
    import torch  # here, not at the top: a task's record is read without torch at config validation

    width = width or max(len(row) for row in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def pad_inputs(features: list[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """input_ids, attention_mask and (when the features have them) token_type_ids."""
    ids = [f["input_ids"] for f in features]
    batch = {"input_ids": pad(ids, pad_token_id), "attention_mask": pad([[1] * len(row) for row in ids], 0)}
    if "token_type_ids" in features[0]:
        batch["token_type_ids"] = pad([f["token_type_ids"] for f in features], 0)
    return batch
