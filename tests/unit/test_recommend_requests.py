"""Recommending to one user: diversity (MMR), interests as free text, cold start by popularity,
saved users, excluded items and unknown ids, on a handful of items with the untuned builtin MiniLM."""

from __future__ import annotations

import numpy as np
import pytest

from whet.errors import DataError
from whet.recommend.cold_start import most_popular, popularity_counts
from whet.recommend.data import Case, Catalog, Interactions
from whet.recommend.diversity import maximal_marginal_relevance, mean_pairwise_similarity

ITEMS = [("space1", "Rocket to Mars: astronauts fly a rocket to Mars."),
         ("space2", "Mars Colony: settlers build the first colony on Mars."),
         ("space3", "Moon Landing: astronauts land a spacecraft on the moon."),
         ("bread1", "Sourdough at Home: baking sourdough bread in your own oven."),
         ("bread2", "Bread Basics: how to knead and bake a loaf of bread."),
         ("bread3", "Cake Decorating: baking sponge cakes and icing them."),
         ("garden1", "Roses All Year: growing and pruning roses in the garden."),
         ("garden2", "The Vegetable Patch: growing tomatoes, beans and potatoes."),
         ("ball1", "Match Day: a football team's season in the premier league."),
         ("ball2", "Between the Posts: the life of a football goalkeeper.")]
USERS = {"ann": ["space1", "space2"], "bob": ["space2", "bread1"], "cat": ["space2", "garden1"],
         "dan": ["garden1", "garden2"]}
DISLIKED = {"ann": ["ball2"]}


@pytest.fixture(scope="module")
def recommender(tmp_path_factory):
    from whet.models.sentence_model import load_sentence_encoder
    from whet.recommend.recommender import load_recommender, save_recommender

    catalog = Catalog([i for i, _ in ITEMS], [t for _, t in ITEMS], [t for _, t in ITEMS])
    sequences = {user: [catalog.position[i] for i in items] for user, items in USERS.items()}
    seen = {user: set(items) | {catalog.position[i] for i in DISLIKED.get(user, [])} for user, items in sequences.items()}
    model_dir = tmp_path_factory.mktemp("rec") / "model"
    model_dir.mkdir()
    save_recommender(model_dir, load_sentence_encoder("builtin:minilm"), catalog, history_items=3, max_seq_length=64,
                     exact_below=1000, lists=None, probe=1, interactions=Interactions(sequences, seen))
    return load_recommender(model_dir)


def test_mmr_without_diversity_keeps_the_relevance_order_and_with_it_spreads_the_picks():
    # two near-duplicates and one item of another kind
    vectors = np.array([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0]])
    relevance = np.array([0.9, 0.85, 0.5])
    assert maximal_marginal_relevance(relevance, vectors, 3, 0.0) == [0, 1, 2]
    assert maximal_marginal_relevance(relevance, vectors, 2, 0.5) == [0, 2]
    assert maximal_marginal_relevance(relevance, vectors, 2, 1.0)[0] == 0  # relevance still picks the first
    # relevance is rescaled: scores 100x larger pick the same items
    assert maximal_marginal_relevance(relevance * 100, vectors, 2, 0.5) == [0, 2]


def test_popularity_counts_users_and_most_popular_skips_what_cannot_be_recommended():
    counts = popularity_counts(Interactions({"a": [0, 1, 1], "b": [1, 2]}, {"a": {0, 1}, "b": {1, 2}}), 4)
    assert counts.tolist() == [1, 2, 1, 0]  # a user taking an item twice counts once
    recommendable = np.array([True, False, True, True, True])  # position 4: added after training
    assert most_popular(counts, recommendable, 3) == [(0, 1.0), (2, 1.0), (3, 0.0)]


def test_without_diversity_the_ranking_is_the_plain_one_and_with_it_the_list_is_more_varied(recommender):
    history = [recommender.catalog.position["space1"]]
    plain = recommender.recommend(history, k=4)
    again = recommender.recommend(history, k=4, diversity=0.0)
    assert [(r.item, r.score) for r in again] == [(r.item, r.score) for r in plain]
    assert [r.item for r in plain] == [r.item for r in recommender.recommend_many([Case("", history, set(history))], 4)[0]]
    varied = recommender.recommend(history, k=4, diversity=0.7)
    vectors = recommender.item_vectors()

    def spread(found):
        return mean_pairwise_similarity(vectors[[recommender.catalog.position[r.item] for r in found]])

    assert varied[0].item == plain[0].item
    assert spread(varied) < spread(plain)
    with pytest.raises(DataError, match="diversity must be between 0 .* and 1, not 1.5"):
        recommender.recommend(history, diversity=1.5)


def test_interests_alone_find_the_item_that_matches_them(recommender):
    found = recommender.recommend([], interests="I love baking bread, kneading dough and sourdough loaves", k=2)
    assert found[0].item in {"bread1", "bread2"} and found[0].because == []
    gardener = recommender.recommend([], interests="growing roses and flowers in my garden", k=1)
    assert gardener[0].item == "garden1"
    # with a history too, both count: the space fan who says they bake is offered bread before Mars
    history = [recommender.catalog.position["space3"]]
    assert recommender.recommend(history, k=1)[0].item.startswith("space")
    assert recommender.recommend(history, k=1, interests="baking bread at home")[0].item.startswith("bread")


def test_cold_start_recommends_the_most_popular_unseen_items(recommender):
    found = recommender.recommend([], k=3)
    assert [r.item for r in found][:1] == ["space2"]  # three users took it
    assert [r.score for r in found] == sorted((r.score for r in found), reverse=True)
    assert found[0].score == 3 and all(r.because == [] for r in found)
    seen = {recommender.catalog.position["space2"]}
    assert "space2" not in {r.item for r in recommender.recommend([], seen, k=3)}
    assert recommender.recommend([], k=1, exclude=seen)[0].item == "garden1"  # two users; ties keep catalog order


def test_saved_users_and_unknown_users(recommender):
    ann = recommender.user_case("ann")
    assert [recommender.catalog.ids[i] for i in ann.history] == ["space1", "space2"]
    assert recommender.catalog.position["ball2"] in ann.seen  # disliked: seen, never recommended
    found = recommender.recommend(ann.history, ann.seen, k=10)
    assert not {"space1", "space2", "ball2"} & {r.item for r in found} and len(found) == 7
    assert recommender.user_case("nobody") is None


def test_excluded_items_are_never_recommended(recommender):
    history = [recommender.catalog.position["space1"]]
    best = recommender.recommend(history, k=1)[0].item
    excluded = {recommender.catalog.position[best]}
    for diversity in (0.0, 0.5):
        assert best not in {r.item for r in recommender.recommend(history, k=9, exclude=excluded, diversity=diversity)}


def test_every_unknown_id_is_named(recommender):
    with pytest.raises(DataError, match=r"history: item 'zz' is not in the catalog \(10 items\)"):
        recommender.positions(["space1", "zz"])
    with pytest.raises(DataError, match=r"items 'zz', 'yy' are not in the catalog .*check the ids"):
        recommender.positions(["zz", "space1", "yy", "zz"])
    many = [f"x{i}" for i in range(13)]
    with pytest.raises(DataError, match=r"items 'x0', .*'x9' and 3 more are not in the catalog"):
        recommender.positions(many, "exclude")
