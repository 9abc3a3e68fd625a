"""Scores of generated text against reference text: exact match and ROUGE-L.

Exact match compares the texts with surrounding whitespace removed. ROUGE-L is the F-measure
of the longest common subsequence of words, computed by Google's ``rouge-score`` package
with a Unicode word tokeniser (lower-cased ``\\w+`` runs) instead of its default, which
drops every character outside a-z and 0-9 and so scores non-English text as empty.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"\w+", re.UNICODE)


class UnicodeWords:
    """A ``rouge-score`` tokenizer: lower-cased runs of letters and digits, in any script."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text.lower())


def exact_match(reference: str, generated: str) -> float:
    return float(reference.strip() == generated.strip())


def generation_scores(references: Sequence[str], generated: Sequence[str]) -> dict[str, float]:
    """Mean exact match and ROUGE-L F-measure over pairs of reference and generated text."""
    from rouge_score import rouge_scorer

    if len(references) != len(generated):
        raise ValueError(f"{len(references)} references but {len(generated)} generated texts")
    if not references:
        return {"exact_match": 0.0, "rouge_l": 0.0}
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=UnicodeWords())
    rouge = [scorer.score(ref, gen)["rougeL"].fmeasure for ref, gen in zip(references, generated)]
    matches = [exact_match(ref, gen) for ref, gen in zip(references, generated)]
    return {"exact_match": sum(matches) / len(matches), "rouge_l": sum(rouge) / len(rouge)}
