"""Recommenders on a real ``whet serve`` process over HTTP on 127.0.0.1: two recommender model
directories (the builtin MiniLM, untrained, over a catalog of space films and cooking shows) and
a classifier, one server; recommending by history, user and interests, cold starts, catalog
changes saved to the model directory, keys, metrics, and the page in headless Chromium."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.serve.conftest import (ADMIN_KEY, API_KEY, INTENT_LABELS, _info, _labels_kwargs, _tiny_config,
                                              _tokenizer, start_server, stop, wait_until_settled)

SPACE = [("s1", "Rocket to Mars. Astronauts fly a rocket to Mars"), ("s2", "Moon Base. A base on the Moon"),
         ("s3", "Star Fleet. A fleet of starships in deep space"), ("s4", "Orbit. A space station in orbit")]
FOOD = [("f1", "Bake Off. Bakers make bread and cakes"), ("f2", "Soup Days. A chef cooks soup"),
        ("f3", "Pasta Love. Fresh pasta in an Italian kitchen"), ("f4", "Spice Road. Cooking with spices")]
# A user who took two space films; the popular items are the cooking shows.
USERS = {"u-space": ["s1", "s2"], "u-food-1": ["f1", "f2"], "u-food-2": ["f2", "f3"], "u-food-3": ["f2", "f1"]}


def build_recommender(directory: Path) -> None:
    """A recommender saved without training: the builtin MiniLM over the catalog, the users' histories."""
    from whet.models.sentence_model import load_sentence_encoder
    from whet.recommend.data import Catalog, Interactions
    from whet.recommend.recommender import save_recommender

    catalog = Catalog([i for i, _ in SPACE + FOOD], [t for _, t in SPACE + FOOD], [t.split(".")[0] for _, t in SPACE + FOOD])
    interactions = Interactions({user: [catalog.position[i] for i in items] for user, items in USERS.items()},
                                {user: {catalog.position[i] for i in items} for user, items in USERS.items()})
    encoder = load_sentence_encoder("builtin:minilm")
    encoder.max_seq_length = 32
    save_recommender(directory, encoder, catalog, history_items=2, max_seq_length=32, exact_below=1000, lists=None,
                     probe=1, interactions=interactions)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    from transformers import BertForSequenceClassification

    from whet.models.saved_model import save_model

    root = tmp_path_factory.mktemp("recommend-serve")
    build_recommender(root / "films")
    shutil.copytree(root / "films", root / "shows")
    tokenizer = _tokenizer()
    save_model(root / "intents", BertForSequenceClassification(_tiny_config(tokenizer, **_labels_kwargs(INTENT_LABELS))),
               tokenizer, _info("sequence-classification", INTENT_LABELS, "builtin:minilm"))
    (root / "keys.txt").write_text(f"{API_KEY}\n")
    (root / "admin.txt").write_text(f"{ADMIN_KEY}\n")
    config = {"models": {"films": str(root / "films"), "shows": str(root / "shows"), "intents": str(root / "intents")},
              "auth": {"api_keys_file": "keys.txt", "admin_keys_file": "admin.txt"},
              "limits": {"max_texts": 16, "max_chars": 500}}
    running = start_server(root, config)
    running.models = {"films": root / "films", "shows": root / "shows"}
    try:
        readiness = wait_until_settled(running)
        assert readiness["status"] == "ready", readiness
        yield running
    finally:
        stop(running)


def recommend(server, key: str | None = API_KEY, **body):
    with server.client(key=key) as client:
        return client.post("/v1/recommend", json={"model": "films", **body})


def items_of(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["item"] for r in response.json()["recommendations"]]


def test_models_lists_the_recommenders_and_task_routes_refuse_them(server):
    with server.client() as client:
        described = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        assert described["films"]["kind"] == "recommender" and described["films"]["indexed"] == 8
        assert described["films"]["ranker"] is False and described["films"]["reranker"] is False
        assert described["intents"]["task"] == "sequence-classification" and described["intents"]["kind"] is None
        # The classifier is the only task model: /v1/predict needs no name for it.
        assert client.post("/v1/predict", json={"inputs": ["hello"]}).json()["model"] == "intents"
        refused = client.post("/v1/predict", json={"model": "films", "inputs": ["hello"]})
        assert refused.status_code == 422 and "'films' is a recommender; send its requests to POST /v1/recommend" \
            in refused.json()["detail"]


def test_recommends_by_history(server):
    response = recommend(server, history=["s1", "s2"], k=3)
    body = response.json()
    assert body["model"] == "films" and body["cold_start"] is False
    rows = body["recommendations"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert not {"s1", "s2"} & {r["item"] for r in rows}  # the history is never recommended
    assert {r["item"] for r in rows[:2]} == {"s3", "s4"}  # the other space films first
    assert all(r["because"] and set(r["because"]) <= {"s1", "s2"} for r in rows)
    assert rows[0]["text"] == dict(SPACE)[rows[0]["item"]]
    assert rows[0]["score"] >= rows[1]["score"] >= rows[2]["score"]
    assert "s3" not in items_of(recommend(server, history=["s1", "s2"], k=3, exclude=["s3"]))


def test_recommends_for_a_known_user_and_cold_starts_an_unknown_one(server):
    known = recommend(server, user_id="u-space", k=8)
    assert known.json()["cold_start"] is False
    assert len(items_of(known)) == 6 and not {"s1", "s2"} & set(items_of(known))  # what the user saw is left out
    unknown = recommend(server, user_id="nobody", k=2)
    assert unknown.json()["cold_start"] is True
    assert items_of(unknown)[0] == "f2"  # the most popular item: three users took it
    by_interests = recommend(server, user_id="nobody", interests="astronauts on a rocket to Mars", k=1)
    assert by_interests.json()["cold_start"] is True and items_of(by_interests) == ["s1"]


def test_unknown_items_are_named_and_bad_requests_refused(server):
    response = recommend(server, history=["s1", "zz-1", "zz-2"], exclude=["zz-3"])
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert all(f"'{item}'" in detail for item in ("zz-1", "zz-2", "zz-3")), detail
    both = recommend(server, user_id="u-space", history=["s1"])
    assert both.status_code == 422 and "give user_id or history, not both" in both.json()["detail"]
    too_many = recommend(server, history=["s1"], k=17)
    assert too_many.status_code == 422 and "limits.max_texts" in too_many.json()["detail"]
    too_long = recommend(server, interests="x" * 501)
    assert too_long.status_code == 422 and "501 characters" in too_long.json()["detail"]
    with server.client() as client:  # a JSON escape httpx would not encode from a str
        broken = client.post("/v1/recommend", content='{"model": "films", "interests": "soup \\ud800"}',
                             headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and "body.interests" in broken.json()["detail"]
    assert recommend(server, history=["s1"], diversity=1.5).status_code == 422
    with server.client() as client:
        unnamed = client.post("/v1/recommend", json={"history": ["s1"]})
        assert unnamed.status_code == 422 and "2 recommenders are served (films, shows); name one" in unnamed.json()["detail"]
        unknown = client.post("/v1/recommend", json={"model": "intents", "history": ["s1"]})
        assert unknown.status_code == 404 and "served recommenders: films, shows" in unknown.json()["detail"]


def test_diversity_changes_the_list(server):
    plain = items_of(recommend(server, history=["s1"], k=4))
    diverse = items_of(recommend(server, history=["s1"], k=4, diversity=1.0))
    assert len(diverse) == 4 and diverse[0] == plain[0] and diverse != plain


def test_keys_are_enforced(server):
    assert recommend(server, key=None, history=["s1"]).status_code == 401
    assert recommend(server, key="wrong-key-0123456789", history=["s1"]).status_code == 401
    with server.client() as client:  # an API key may recommend but not change the catalog
        refused = client.post("/v1/recommend/items", json={"model": "shows", "items": [{"id": "x1", "text": "x"}]})
        assert refused.status_code == 403 and "not an admin key" in refused.json()["detail"]
        assert client.get("/recommend").status_code == 200


def test_added_items_are_recommended_from_their_text_and_saved(server):
    from whet.recommend.recommender import load_recommender

    new = {"id": "s9", "text": "Comet Chasers. Astronauts land a rocket on a comet"}
    with server.client(key=ADMIN_KEY) as admin:
        added = admin.post("/v1/recommend/items", json={"model": "shows", "items": [new]})
        assert added.status_code == 201, added.text
        assert added.json() == {"model": "shows", "added": 1, "removed": 0, "indexed": 9}
        # Saved before the answer: the model directory loads with the item indexed.
        saved = load_recommender(server.models["shows"])
        assert saved.index.ntotal == 9 and saved.catalog.texts[saved.catalog.position["s9"]] == new["text"]
        with server.client() as client:
            found = client.post("/v1/recommend", json={"model": "shows", "history": ["s1", "s2"], "k": 3}).json()
            assert "s9" in [r["item"] for r in found["recommendations"]]
            assert "s9" not in items_of(recommend(server, history=["s1", "s2"], k=8))  # the other recommender
        again = admin.post("/v1/recommend/items", json={"model": "shows", "items": [
            {"id": "s9", "text": "again"}, {"id": "n1", "text": "new"}, {"id": "n1", "text": "twice"}]})
        assert again.status_code == 409
        assert "'n1'" in again.json()["detail"] and "'s9'" in again.json()["detail"]
        described = {m["name"]: m for m in admin.get("/v1/models").json()["models"]}
        assert described["shows"]["indexed"] == 9  # nothing was added


def test_removed_items_are_no_longer_recommended(server):
    with server.client(key=ADMIN_KEY) as admin:
        unknown = admin.post("/v1/recommend/items/remove", json={"model": "shows", "ids": ["s3", "zz-9"]})
        assert unknown.status_code == 422 and "'zz-9'" in unknown.json()["detail"]
        removed = admin.post("/v1/recommend/items/remove", json={"model": "shows", "ids": ["s3", "s4"]})
        assert removed.status_code == 200, removed.text
        assert removed.json()["removed"] == 2
        twice = admin.post("/v1/recommend/items/remove", json={"model": "shows", "ids": ["s3"]})
        assert twice.status_code == 422 and "removed already" in twice.json()["detail"]
    with server.client() as client:
        found = client.post("/v1/recommend", json={"model": "shows", "history": ["s1", "s2"], "k": 16}).json()
        assert not {"s3", "s4"} & {r["item"] for r in found["recommendations"]}
        # A removed item may still be named in a history.
        assert client.post("/v1/recommend", json={"model": "shows", "history": ["s3"], "k": 1}).status_code == 200
    rows = [json.loads(line) for line in (server.models["shows"] / "items.jsonl").read_text().splitlines()]
    assert {r["id"]: r["indexed"] for r in rows}["s3"] is False


def test_metrics_count_the_requests(server):
    recommend(server, user_id="nobody", k=1)
    text = server.get("/metrics").text
    assert 'whet_requests_total{method="POST",route="/v1/recommend",status="200"}' in text
    assert 'whet_requests_total{method="POST",route="/v1/recommend",status="422"}' in text
    assert 'whet_model_requests_total{model="films"}' in text
    assert 'whet_recommendations_total{cold_start="true",model="films"}' in text
    assert 'whet_model_errors_total{model="films",reason="input"}' in text


def test_the_page_recommends_from_a_history_and_shows_errors(server):
    from tests.integration.serve.test_serve_playground import browser_page

    expected = recommend(server, history=["s1", "s2"], k=3, diversity=0.5).json()["recommendations"]
    with browser_page(server.url + "/recommend") as (page, console_errors):
        page.wait_for_selector("#error:has-text('Cannot list the recommenders')")
        page.fill("#api-key", API_KEY)
        page.dispatch_event("#api-key", "change")
        page.wait_for_selector("#model option[value='films']", state="attached")
        assert page.locator("#model option").count() == 2  # the classifier is not listed
        page.select_option("#model", "films")
        page.fill("#history", "s1, s2")
        page.fill("#k", "3")
        page.fill("#diversity", "0.5")
        assert page.text_content("#diversity-value") == "0.50"
        page.click("#recommend")
        page.wait_for_selector("#results li")
        assert [page.text_content(f"#results li:nth-child({n}) .item") for n in (1, 2, 3)] == \
            [r["item"] for r in expected]
        assert page.text_content("#results li:first-child .because") == "because of " + ", ".join(expected[0]["because"])
        page.fill("#history", "s1, nope")
        page.click("#recommend")
        page.wait_for_selector("#error:has-text(\"'nope'\")")
        assert page.locator("#results li").count() == 0
        page.fill("#history", "")
        page.fill("#interests", "a chef cooking soup")
        page.click("#recommend")
        page.wait_for_selector("#summary:has-text('cold start')")
        assert page.text_content("#results li:first-child .item") == "f2"
        assert console_errors == ["Failed to load resource: the server responded with a status of 401 (Unauthorized)",
                                  "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"]
