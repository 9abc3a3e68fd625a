"""``whet recommend`` end to end on a tiny catalog: train, eval, predict, add and remove items,
and the index refused once the encoder beside it changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from whet.cli import app

# Two tastes: users who like space films go on to another space film, and likewise for cooking.
SPACE = [("s1", "Rocket to Mars", "astronauts fly a rocket to mars"), ("s2", "Moon Base", "a base on the moon"),
         ("s3", "Star Fleet", "a fleet of starships"), ("s4", "Orbit", "a space station in orbit")]
FOOD = [("f1", "Bake Off", "bakers make bread and cakes"), ("f2", "Soup Days", "a chef cooks soup"),
        ("f3", "Pasta Love", "fresh pasta in an italian kitchen"), ("f4", "Spice Road", "cooking with spices")]


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recommend")
    (folder / "items.jsonl").write_text("".join(json.dumps({"id": i, "title": t, "plot": p}) + "\n"
                                                for i, t, p in SPACE + FOOD), encoding="utf-8")
    train, dev = ["user,item,time"], ["user,item,time"]
    for u in range(12):
        genre = SPACE if u % 2 == 0 else FOOD
        order = [genre[(u // 2 + j) % 4][0] for j in range(4)]
        train += [f"u{u},{item},{t}" for t, item in enumerate(order[:3])]
        dev.append(f"u{u},{order[3]},9")
    (folder / "train.csv").write_text("\n".join(train) + "\n", encoding="utf-8")
    (folder / "dev.csv").write_text("\n".join(dev) + "\n", encoding="utf-8")
    config = {"data": {"items": "items.jsonl", "text_fields": ["title", "plot"], "query_fields": ["title"],
                       "interactions": "train.csv", "dev": "dev.csv", "time_field": "time"},
              "model": {"history_items": 2, "max_seq_length": 32},
              "training": {"epochs": 2, "batch_size": 4, "lr": 5e-5, "hard_negatives": 1, "hard_negative_ranks": [0, 4]},
              "output": {"dir": str(folder / "run")}}
    (folder / "rec.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = invoke("recommend", "train", str(folder / "rec.yaml"))
    assert result.exit_code == 0, result.output
    return folder


def test_train_writes_a_model_with_its_index_and_dev_figures(run):
    model = run / "run" / "model"
    assert {p.name for p in model.iterdir()} >= {"encoder", "items.jsonl", "items.faiss", "recommender.json"}
    assert list((model / "encoder").glob("*.safetensors"))
    metrics = json.loads((run / "run" / "metrics.json").read_text())
    assert metrics["pairs"] == 24 and set(metrics["dev"]) == {"recall@10", "ndcg@10", "mrr"}
    evaluated = invoke("recommend", "eval", str(model), str(run / "rec.yaml"))
    assert evaluated.exit_code == 0, evaluated.output
    # the index's vectors rank exactly as the encoder's scores did in training's evaluation
    assert json.loads(evaluated.stdout)["mrr"] == pytest.approx(metrics["dev"]["mrr"], abs=1e-4)


def test_predict_for_a_history_and_for_a_user(run):
    model = str(run / "run" / "model")
    result = invoke("recommend", "predict", model, "--history", "s1,s2", "-k", "3")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["rank"] for row in rows] == [1, 2, 3]
    assert not {"s1", "s2"} & {row["item"] for row in rows}  # the history is never recommended
    assert all(set(row["because"]) <= {"s1", "s2"} and row["because"] for row in rows)
    by_user = invoke("recommend", "predict", model, "--user", "u1", "--config", str(run / "rec.yaml"), "-k", "8")
    assert by_user.exit_code == 0, by_user.output
    assert len(by_user.stdout.splitlines()) == 5  # 8 items less the user's 3


def test_saved_users_need_no_config_and_an_unknown_user_is_a_new_one(run):
    model = run / "run" / "model"
    assert (model / "users.jsonl").is_file() and (model / "popularity.safetensors").is_file()
    saved = invoke("recommend", "predict", str(model), "--user", "u1", "-k", "8")
    with_config = invoke("recommend", "predict", str(model), "--user", "u1", "--config", str(run / "rec.yaml"), "-k", "8")
    assert saved.exit_code == 0, saved.output
    assert saved.stdout == with_config.stdout and len(saved.stdout.splitlines()) == 5
    # u1 took f1, f2, f3 in training (users with odd numbers like food)
    assert {json.loads(line)["item"] for line in saved.stdout.splitlines()} == {"f4", "s1", "s2", "s3", "s4"}
    stranger = CliRunner().invoke(app, ["recommend", "predict", str(model), "--user", "zed", "-k", "3"])
    assert stranger.exit_code == 0, stranger.output
    assert "user 'zed' is not among the model's training users; recommending as for a new user" in stranger.stderr
    popular = invoke("recommend", "predict", str(model), "--history", "", "-k", "8")
    assert [json.loads(line) for line in stranger.stdout.splitlines()] == \
        [json.loads(line) for line in popular.stdout.splitlines()][:3]
    # popularity: how many training users took each item (three each of 12)
    counts = {}
    for line in (run / "train.csv").read_text().splitlines()[1:]:
        item = line.split(",")[1]
        counts[item] = counts.get(item, 0) + 1
    rows = [json.loads(line) for line in popular.stdout.splitlines()]
    assert [row["score"] for row in rows] == sorted(counts.values(), reverse=True)
    assert all(counts[row["item"]] == row["score"] for row in rows)
    interested = invoke("recommend", "predict", str(model), "--user", "zed", "--interests", "baking cakes and bread",
                        "-k", "1", "--exclude", "f1")
    assert json.loads(interested.stdout)["item"] != "f1"
    varied = invoke("recommend", "predict", str(model), "--history", "s1", "--diversity", "0.5", "-k", "3")
    assert varied.exit_code == 0 and len(varied.stdout.splitlines()) == 3
    assert invoke("recommend", "predict", str(model), "--history", "s1", "--diversity", "2").exit_code == 2


def test_items_are_added_and_removed_without_retraining(run, tmp_path):
    model = tmp_path / "model"
    import shutil

    shutil.copytree(run / "run" / "model", model)
    (tmp_path / "new.jsonl").write_text(json.dumps({"id": "s9", "title": "Comet Chasers"}) + "\n", encoding="utf-8")
    assert invoke("recommend", "add-items", str(model), str(tmp_path / "new.jsonl")).exit_code == 0
    rows = [json.loads(line) for line in invoke("recommend", "predict", str(model), "--history", "s1", "-k", "9").stdout.splitlines()]
    assert "s9" in {row["item"] for row in rows}
    assert invoke("recommend", "remove-items", str(model), "s9", "s2").exit_code == 0
    rows = [json.loads(line) for line in invoke("recommend", "predict", str(model), "--history", "s1", "-k", "9").stdout.splitlines()]
    assert not {"s9", "s2"} & {row["item"] for row in rows} and len(rows) == 6
    # a removed item may still be named in a history
    assert invoke("recommend", "predict", str(model), "--history", "s2", "-k", "1").exit_code == 0


def test_an_index_built_by_other_weights_is_refused_until_rebuilt(run, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(run / "run" / "model", model)
    weights = next((model / "encoder").glob("*.safetensors"))
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights))
    name = next(iter(tensors))
    tensors[name] = tensors[name] * 1.01
    save_file(tensors, str(weights))
    result = invoke("recommend", "predict", str(model), "--history", "s1")
    assert result.exit_code != 0
    assert "was built with other encoder weights" in str(result.exception)
    assert invoke("recommend", "index", str(model)).exit_code == 0
    assert invoke("recommend", "predict", str(model), "--history", "s1").exit_code == 0


def test_bad_requests_name_the_fix(run):
    model = str(run / "run" / "model")
    unknown = invoke("recommend", "predict", model, "--history", "zz")
    assert "item 'zz' is not in the catalog" in str(unknown.exception)
    neither = invoke("recommend", "predict", model)
    assert "give --user, --history or --interests" in str(neither.exception)
    several = invoke("recommend", "predict", model, "--history", "s1,zz,yy", "--exclude", "xx")
    assert "items 'zz', 'yy' are not in the catalog" in str(several.exception)
    assert "item 'xx' is not in the catalog" in str(invoke("recommend", "predict", model, "--history", "s1",
                                                            "--exclude", "xx").exception)
    again = invoke("recommend", "train", str(run / "rec.yaml"))
    assert "already holds a model" in str(again.exception)


def test_a_model_with_the_feature_ranker_scores_every_item(run, tmp_path):
    result = invoke("recommend", "train", str(run / "rec.yaml"), "--set", "ranker.features=true",
                    "--set", f"output.dir={tmp_path / 'ranked'}", "--set", "training.hard_negatives=0")
    assert result.exit_code == 0, result.output
    model = tmp_path / "ranked" / "model"
    assert (model / "ranker.json").is_file() and (model / "counts.safetensors").is_file()
    metrics = json.loads((tmp_path / "ranked" / "metrics.json").read_text())
    assert set(metrics["ranker"]) == {"encoder", "cooccurrence", "similarity", "transitions", "recent_transitions",
                                      "popularity"}
    assert metrics["pairs"] == 12  # each user's last step is the ranker's, not the encoder's
    rows = [json.loads(line) for line in invoke("recommend", "predict", str(model), "--history", "f1,f2", "-k", "6").stdout.splitlines()]
    assert len(rows) == 6 and not {"f1", "f2"} & {row["item"] for row in rows}
    evaluated = json.loads(invoke("recommend", "eval", str(model), str(run / "rec.yaml")).stdout)
    assert evaluated["mrr"] == pytest.approx(metrics["dev"]["mrr"], abs=1e-4)
    (tmp_path / "new.jsonl").write_text(json.dumps({"id": "f9", "title": "Noodle Bar"}) + "\n", encoding="utf-8")
    assert invoke("recommend", "add-items", str(model), str(tmp_path / "new.jsonl")).exit_code == 0
    rows = [json.loads(line) for line in invoke("recommend", "predict", str(model), "--history", "f1", "-k", "8").stdout.splitlines()]
    assert "f9" in {row["item"] for row in rows}  # no counts yet, still ranked by its text
    # a user known only by interests is scored by the cosine alone, not the count features
    from whet.recommend.recommender import load_recommender

    recommender = load_recommender(model)
    found = recommender.recommend([], interests="a chef cooks soup", k=3)
    cosine = recommender.user_vectors([[]], ["a chef cooks soup"]) @ recommender.item_vectors().T
    assert [r.score for r in found] == pytest.approx(sorted(cosine[0], reverse=True)[:3], abs=1e-5)
    assert [r.item for r in recommender.recommend([], k=9)][-1] == "f9"  # added later: popularity 0


def test_a_catalog_with_categories_gives_the_ranker_a_category_affinity_feature(run, tmp_path):
    from whet.recommend.recommender import load_recommender

    rows = [json.loads(line) for line in (run / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    (tmp_path / "items.jsonl").write_text("".join(
        json.dumps({**row, "shelf": "space" if row["id"].startswith("s") else "food"}) + "\n" for row in rows),
        encoding="utf-8")
    result = invoke("recommend", "train", str(run / "rec.yaml"), "--set", f"data.items={tmp_path / 'items.jsonl'}",
                    "--set", "data.category_field=shelf", "--set", "ranker.features=true",
                    "--set", f"output.dir={tmp_path / 'shelved'}", "--set", "training.hard_negatives=0")
    assert result.exit_code == 0, result.output
    model = tmp_path / "shelved" / "model"
    assert "category_affinity" in json.loads((tmp_path / "shelved" / "metrics.json").read_text())["ranker"]
    recommender = load_recommender(model)  # the categories travel with the saved catalog
    assert recommender.catalog.categories[recommender.catalog.position["s1"]] == ("space",)
    (tmp_path / "new.jsonl").write_text(json.dumps({"id": "f9", "title": "Noodle Bar"}) + "\n", encoding="utf-8")
    assert invoke("recommend", "add-items", str(model), str(tmp_path / "new.jsonl")).exit_code == 0
    found = [json.loads(line)["item"] for line in
             invoke("recommend", "predict", str(model), "--history", "f1,f2", "-k", "9").stdout.splitlines()]
    assert len(found) == 7 and "f9" in found and not {"f1", "f2"} & set(found)
    assert load_recommender(model).catalog.categories[-1] == ()  # an added item has no known categories


@pytest.mark.slow
def test_a_model_with_the_reranker_reorders_the_first_stage_candidates(run, tmp_path):
    result = invoke("recommend", "train", str(run / "rec.yaml"), "--set", "ranker.features=true",
                    "--set", "reranker.enabled=true", "--set", "reranker.candidates=4", "--set", "reranker.negatives=2",
                    "--set", "reranker.max_seq_length=32", "--set", "reranker.batch_size=4",
                    "--set", f"output.dir={tmp_path / 'reranked'}", "--set", "training.hard_negatives=0")
    assert result.exit_code == 0, result.output
    model = tmp_path / "reranked" / "model"
    assert list((model / "reranker").glob("*.safetensors")) and (model / "reranker" / "reranker.json").is_file()
    metrics = json.loads((tmp_path / "reranked" / "metrics.json").read_text())
    # the last steps are held out of both; the cross-encoder learns from the steps whose target is a candidate
    assert metrics["pairs"] == 12 and 0 < metrics["reranker"]["steps"] <= 12
    evaluated = json.loads(invoke("recommend", "eval", str(model), str(run / "rec.yaml")).stdout)
    assert evaluated["mrr"] == pytest.approx(metrics["dev"]["mrr"], abs=1e-4)  # the saved pipeline, loaded back
    from whet.recommend.recommender import load_recommender

    recommender = load_recommender(model)
    first = recommender.reranker
    recommender.reranker = None
    first_stage = [r.item for r in recommender.recommend([0, 1], k=8)]
    recommender.reranker = first
    reranked = [r.item for r in recommender.recommend([0, 1], k=8)]
    # the first stage's top 4 are re-read and stay on top; the others keep their order below
    assert set(reranked[:4]) == set(first_stage[:4]) and reranked[4:] == first_stage[4:]


def test_a_catalog_change_cut_short_before_items_jsonl_is_undone_at_load(run, tmp_path, caplog):
    import shutil

    from whet.recommend.index import save_index
    from whet.recommend.recommender import CATALOG_FILE, load_recommender

    model = tmp_path / "model"
    shutil.copytree(run / "run" / "model", model)
    catalog_before = (model / CATALOG_FILE).read_text(encoding="utf-8")
    recommender = load_recommender(model)
    recommender.add_items(["s9"], ["Comet Chasers"])
    save_index(recommender.index, model / "items.faiss")  # the crash: the index written, items.jsonl not
    with caplog.at_level("WARNING", logger="whet"):
        reloaded = load_recommender(model)
    assert "a catalog change was interrupted; rebuilding the index from items.jsonl" in caplog.text
    assert reloaded.index.ntotal == sum(reloaded.indexed) == len(catalog_before.splitlines())
    assert "s9" not in reloaded.catalog.position and (model / CATALOG_FILE).read_text(encoding="utf-8") == catalog_before
    found = {r.item for r in reloaded.recommend([reloaded.catalog.position["s1"]], k=20)}
    assert found == set(reloaded.catalog.ids) - {"s1"}
