"""Synonyms without WordNet: a word's nearest whole words in the model's own input embedding
matrix (cosine similarity), so augmentation needs nothing downloaded at run time and speaks
the vocabulary the model was trained on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from whet.data.augment.eda import wants_synonym
from whet.models.pretrained import load_model, load_tokenizer

# Rows of the vocabulary compared with the words at once: (chunk, vocabulary) similarities in memory.
_CHUNK = 1024


def whole_words(tokenizer: Any) -> dict[str, int]:
    """Vocabulary entries that are whole words a synonym may be: alphabetic, longer than one letter,
    not stop words, and tokenised back into exactly that entry (so not a ``##`` piece, nor a
    word-inner BPE piece). Returns word -> token id."""
    vocabulary = tokenizer.get_vocab()
    surfaces = {}
    for token, token_id in vocabulary.items():
        surface = tokenizer.convert_tokens_to_string([token]).strip()
        if len(surface) > 1 and wants_synonym(surface):
            surfaces.setdefault(surface, token_id)
    words = list(surfaces)
    # With a leading space, as a word follows another: BPE vocabularies mark word starts ("Ġword").
    encoded = tokenizer([" " + word for word in words], add_special_tokens=False)["input_ids"]
    return {word: surfaces[word] for word, ids in zip(words, encoded) if ids == [surfaces[word]]}


def embedding_neighbours(model: str, words: Iterable[str], k: int) -> dict[str, list[str]]:
    """Lowercased word -> its ``k`` nearest whole words in ``model``'s input embeddings.

    Words that are not a whole-word vocabulary entry (in lower case, as written, or capitalised)
    get none; neighbours that differ only in case from the word are skipped.

    Example:
        >>> embedding_neighbours("builtin:minilm", ["card"], 3)["card"]  # doctest: +SKIP
        ['cards', 'wallet', 'passport']
    """
    import torch
    from transformers import AutoModel

    tokenizer = load_tokenizer(model, fast=False)
    vocabulary = whole_words(tokenizer)
    wanted = {}
    for word in words:
        if not wants_synonym(word):
            continue
        for form in (word.lower(), word, word.capitalize()):
            if form in vocabulary:
                wanted.setdefault(word.lower(), vocabulary[form])
                break
    if not wanted:
        return {}
    weights = load_model(AutoModel, model).get_input_embeddings().weight.detach().float()  # (vocab, hidden)
    names = list(vocabulary)
    candidates = torch.nn.functional.normalize(weights[torch.tensor([vocabulary[n] for n in names])], dim=1)
    queries = list(wanted)
    neighbours: dict[str, list[str]] = {}
    with torch.no_grad():
        for start in range(0, len(queries), _CHUNK):
            chunk = queries[start:start + _CHUNK]
            rows = torch.nn.functional.normalize(weights[torch.tensor([wanted[w] for w in chunk])], dim=1)
            # A few more than k: the word itself and its other cases come back among the nearest.
            top = (rows @ candidates.T).topk(min(k + 4, len(names)), dim=1).indices.tolist()  # (chunk, k + 4)
            for word, row in zip(chunk, top):
                found = []
                for index in row:
                    candidate = names[index]
                    if candidate.lower() != word and candidate.lower() not in found:
                        found.append(candidate.lower())
                neighbours[word] = found[:k]
    return neighbours
