"""Exact match and F1 with the official SQuAD normalisation, against values worked out by hand."""

from __future__ import annotations

import pytest

from whet.metrics.squad import answer_scores, exact_match, normalize_answer, squad_scores, token_f1


@pytest.mark.parametrize("text, normalised", [
    ("The Eiffel Tower", "eiffel tower"),
    ("  an   apple, a pear!  ", "apple pear"),
    ("Theatre", "theatre"),                      # articles only as whole words
    ("Denver Broncos.", "denver broncos"),
    ("U.S.", "us"),                              # punctuation is removed, not replaced by a space
    ("rock-and-roll", "rockandroll"),
    ("A", ""),
    ("Ça va? Über", "ça va über"),               # lower-casing is Unicode-aware; accents stay
])
def test_normalisation_follows_the_official_script(text, normalised):
    assert normalize_answer(text) == normalised


def test_exact_match_after_normalisation():
    assert exact_match("Denver Broncos", "the denver broncos!") == 1.0
    assert exact_match("Denver Broncos", "Broncos") == 0.0


@pytest.mark.parametrize("gold, predicted, f1", [
    ("Denver Broncos", "Denver Broncos", 1.0),
    # 1 common word; precision 1/1, recall 1/2 -> 2 * 1 * 0.5 / 1.5
    ("Denver Broncos", "Broncos", 2 / 3),
    # "the" is dropped from both sides: gold [santa, clara], predicted [santa, clara, california]
    ("Santa Clara", "the Santa Clara, California", 0.8),
    # words are a multiset: gold [cat], predicted [cat, cat] share 1 -> P 1/2, R 1
    ("the cat", "cat cat", 2 * 0.5 * 1.0 / 1.5),
    ("Denver Broncos", "Carolina Panthers", 0.0),
    ("", "", 1.0),                       # unanswerable, answered empty
    ("", "Porto", 0.0),                  # unanswerable, answered
    ("Porto", "", 0.0),                  # answerable, answered empty
])
def test_token_f1(gold, predicted, f1):
    assert token_f1(gold, predicted) == pytest.approx(f1)


def test_best_score_over_gold_answers():
    # Three annotators, as in SQuAD dev: the prediction scores against the closest one.
    golds = ["Denver Broncos", "The Denver Broncos", "Broncos"]
    assert answer_scores(golds, "Broncos") == (1.0, 1.0)
    em, f1 = answer_scores(["Santa Clara, California", "Levi's Stadium"], "Levi's Stadium in Santa Clara")
    assert em == 0.0
    # Against "Santa Clara, California": 2 common of 5 predicted and 3 gold words -> P 0.4, R 2/3
    # Against "Levi's Stadium": gold [levis, stadium], 2 common -> P 0.4, R 1.0 -> F1 4/7
    assert f1 == pytest.approx(4 / 7)


def test_gold_answers_that_normalise_to_nothing_make_the_question_unanswerable():
    assert answer_scores(["the", "a"], "") == (1.0, 1.0)
    assert answer_scores([], "Porto") == (0.0, 0.0)


def test_scores_are_split_into_answerable_and_unanswerable():
    golds = [["Porto"], ["a baker", "baker"], [], []]
    predicted = ["porto.", "a good baker", "", "Lisbon"]
    # F1 of "a good baker" vs "baker": gold [baker], predicted [good, baker] -> P 0.5, R 1 -> 2/3
    scores = squad_scores(golds, predicted)
    assert scores["answerable"] == {"exact_match": 0.5, "f1": pytest.approx((1 + 2 / 3) / 2), "examples": 2}
    assert scores["unanswerable"] == {"exact_match": 0.5, "f1": 0.5, "examples": 2}
    assert scores["all"] == {"exact_match": 0.5, "f1": pytest.approx((1 + 2 / 3 + 1) / 4), "examples": 4}


def test_squad_v1_data_has_no_unanswerable_row():
    assert set(squad_scores([["Porto"]], ["Porto"])) == {"all", "answerable"}
    with pytest.raises(ValueError, match="1 gold answer lists but 2 predictions"):
        squad_scores([["Porto"]], ["Porto", "x"])
