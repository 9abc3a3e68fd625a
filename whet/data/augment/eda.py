"""EDA (Wei and Zou, 2019, "EDA: Easy Data Augmentation Techniques for Boosting Performance on
Text Classification Tasks"): synonym replacement, random insertion, random swap and random
deletion on a text's whitespace-separated words (punctuation stuck to a word stays in place
when the word is replaced).

As in the paper, each augmented copy applies one operation; ``alpha`` sets how many words it
touches (``n = max(1, int(alpha * words))``, or the chance of each word for deletion).
Synonyms come from a mapping of lowercased word -> candidates (the paper uses WordNet; whet
uses the model's own embedding neighbours, see ``whet.augment.neighbours``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence

Synonyms = Mapping[str, Sequence[str]]  # lowercased word -> its synonyms

# The stop words of the paper's code (NLTK's English list): never replaced, never a source of insertions.
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
herself it its itself they them their theirs themselves what which who whom this that these those am is are
was were be been being have has had having do does did doing a an the and but if or because as until while of
at by for with about against between into through during before after above below to from up down in out on
off over under again further then once here there when where why how all any both each few more most other
some such no nor not only own same so than too very s t can will just don should now
""".split())

OPERATIONS = ("synonym_replacement", "random_insertion", "random_swap", "random_deletion")


# A whitespace-separated word may carry punctuation ("card?", "(fee"): the word is what lies between.
_AROUND = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)


def word_core(word: str) -> tuple[str, str, str]:
    """(leading punctuation, the word, trailing punctuation): "card?" -> ("", "card", "?")."""
    before, core, after = _AROUND.match(word).groups()
    return before, core, after


def wants_synonym(word: str) -> bool:
    """Whether a word may be replaced by, or be looked up for, a synonym: alphabetic, not a stop word."""
    return word.isalpha() and word.lower() not in STOP_WORDS


def has_synonyms(word: str, synonyms: Synonyms) -> bool:
    """Whether ``word`` (punctuation around it aside) can be replaced by a synonym."""
    core = word_core(word)[1]
    return wants_synonym(core) and bool(synonyms.get(core.lower()))


def in_case_of(word: str, replacement: str) -> str:
    """``replacement`` written in the case of ``word`` (an uncased model's neighbours are lowercase)."""
    if len(word) > 1 and word.isupper():
        return replacement.upper()
    if word[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def synonym_of(word: str, synonyms: Synonyms, rng: random.Random) -> str | None:
    """A random synonym of ``word`` in its case and with its punctuation, or None when it has none."""
    before, core, after = word_core(word)
    candidates = synonyms.get(core.lower()) if wants_synonym(core) else None
    return before + in_case_of(core, rng.choice(candidates)) + after if candidates else None


def _count(alpha: float, n_words: int) -> int:
    return max(1, int(alpha * n_words))


def synonym_replacement(words: list[str], alpha: float, synonyms: Synonyms, rng: random.Random) -> list[str]:
    """Replace ``n`` random words that have synonyms, each by one of its synonyms."""
    words = list(words)
    positions = [i for i, word in enumerate(words) if has_synonyms(word, synonyms)]
    for i in rng.sample(positions, min(len(positions), _count(alpha, len(words)))):
        words[i] = synonym_of(words[i], synonyms, rng) or words[i]
    return words


def random_insertion(words: list[str], alpha: float, synonyms: Synonyms, rng: random.Random) -> list[str]:
    """Insert ``n`` times a synonym of a random word (of those that have one) at a random place."""
    words = list(words)
    sources = [word_core(word)[1] for word in words if has_synonyms(word, synonyms)]
    if not sources:
        return words
    for _ in range(_count(alpha, len(words))):
        synonym = synonym_of(rng.choice(sources), synonyms, rng)
        words.insert(rng.randint(0, len(words)), synonym)
    return words


def random_swap(words: list[str], alpha: float, rng: random.Random) -> list[str]:
    """Swap two random words, ``n`` times."""
    words = list(words)
    if len(words) < 2:
        return words
    for _ in range(_count(alpha, len(words))):
        i, j = rng.sample(range(len(words)), 2)
        words[i], words[j] = words[j], words[i]
    return words


def random_deletion(words: list[str], alpha: float, rng: random.Random) -> list[str]:
    """Delete each word with probability ``alpha``; one random word stays if all would go."""
    if len(words) < 2:
        return list(words)
    kept = [word for word in words if rng.random() >= alpha]
    return kept or [rng.choice(words)]


def eda(text: str, rates: Mapping[str, float], synonyms: Synonyms, rng: random.Random) -> str:
    """One augmented copy of ``text``: one of the operations with a rate above zero, chosen at random.

    Args:
        text: The text; its words are split on whitespace and joined by single spaces.
        rates: Operation name (one of ``OPERATIONS``) -> its alpha.
        synonyms: Lowercased word -> synonyms, for replacement and insertion.
        rng: The source of randomness; the same state gives the same copy.

    Example:
        >>> eda("the card never arrived", {"random_swap": 0.25}, {}, random.Random(1))
        'card the never arrived'
    """
    chosen = [name for name in OPERATIONS if rates.get(name, 0) > 0]
    if not chosen:
        return text
    name = rng.choice(chosen)
    words, alpha = text.split(), rates[name]
    if name == "synonym_replacement":
        words = synonym_replacement(words, alpha, synonyms, rng)
    elif name == "random_insertion":
        words = random_insertion(words, alpha, synonyms, rng)
    elif name == "random_swap":
        words = random_swap(words, alpha, rng)
    else:
        words = random_deletion(words, alpha, rng)
    return " ".join(words)
