"""Exact match and F1 for extractive question answering, as the official SQuAD scripts define them.

Answers are compared after the official normalisation: lower case, punctuation removed,
the articles a/an/the removed, whitespace collapsed. F1 is over the bag of normalised
words. Each prediction takes its best score over the question's gold answers. As in the
SQuAD v2.0 script, a gold answer that normalises to nothing is dropped, and a question
with no (remaining) gold answer is unanswerable: only the empty prediction scores 1 on it.

Scores are fractions in [0, 1], like whet's other metrics (the official scripts print
percentages).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces.

    Example:
        >>> normalize_answer("The  Eiffel-Tower!")
        'eiffeltower'
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(gold: str, predicted: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(predicted))


def token_f1(gold: str, predicted: str) -> float:
    """F1 over normalised words; an empty side scores 1 only when both are empty."""
    gold_words, predicted_words = normalize_answer(gold).split(), normalize_answer(predicted).split()
    if not gold_words or not predicted_words:
        return float(gold_words == predicted_words)
    same = sum((Counter(gold_words) & Counter(predicted_words)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted_words), same / len(gold_words)
    return 2 * precision * recall / (precision + recall)


def answer_scores(golds: Sequence[str], predicted: str) -> tuple[float, float]:
    """(exact match, F1) of one prediction: the best over the gold answers."""
    golds = [g for g in golds if normalize_answer(g)] or [""]
    return max(exact_match(g, predicted) for g in golds), max(token_f1(g, predicted) for g in golds)


def squad_scores(golds: Sequence[Sequence[str]], predicted: Sequence[str]) -> dict[str, dict]:
    """Exact match and F1 over questions, overall and split by answerable / unanswerable.

    Args:
        golds: Each question's gold answer texts; an empty list for an unanswerable question.
        predicted: Each question's predicted answer text ("" for no answer).

    Returns:
        ``{"all": row, "answerable": row, "unanswerable": row}`` where each row is
        ``{"exact_match", "f1", "examples"}`` (the official script's HasAns / NoAns splits);
        a split with no questions is left out.

    Example:
        >>> squad_scores([["Porto"], []], ["porto", ""])["all"]
        {'exact_match': 1.0, 'f1': 1.0, 'examples': 2}
    """
    if len(golds) != len(predicted):
        raise ValueError(f"{len(golds)} gold answer lists but {len(predicted)} predictions")
    per_question = [answer_scores(g, p) for g, p in zip(golds, predicted)]
    groups = {"all": range(len(golds)),
              "answerable": [i for i, g in enumerate(golds) if g],
              "unanswerable": [i for i, g in enumerate(golds) if not g]}
    rows = {}
    for name, indices in groups.items():
        if name != "all" and not indices:
            continue
        n = len(indices)
        rows[name] = {"exact_match": sum(per_question[i][0] for i in indices) / n if n else 0.0,
                      "f1": sum(per_question[i][1] for i in indices) / n if n else 0.0,
                      "examples": n}
    return rows
