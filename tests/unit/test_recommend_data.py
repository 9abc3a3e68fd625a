"""The recommender's readers and config: catalogs, events, UniSRec sequences, and their problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from whet.errors import ConfigError, DataError
from whet.recommend.data import (dev_cases, interactions_from_cases, load_recommend_data, read_catalog, read_events,
                                 read_sequences, training_cases)
from whet.recommend.settings import RecommendData, load_recommend_config

ITEMS = [{"id": "a", "title": "Alien", "plot": "Space horror."}, {"id": "b", "title": "Babe", "plot": "A pig."},
         {"id": "c", "title": "Cars", "plot": ""}, {"id": "d", "title": "Dune", "plot": "Desert planet."}]
EVENT_FIELDS = {"user_field": "user", "item_field": "item", "rating_field": "rating", "time_field": "ts",
                "min_rating": 4.0}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_events(path: Path, rows: list[tuple]) -> Path:
    path.write_text("user,item,rating,ts\n" + "".join(",".join(map(str, row)) + "\n" for row in rows),
                    encoding="utf-8")
    return path


@pytest.fixture
def catalog(tmp_path: Path):
    return read_catalog(write_jsonl(tmp_path / "items.jsonl", ITEMS), id_field="id", text_fields=["title", "plot"],
                        query_fields=["title"])


def test_catalog_joins_text_fields_and_keeps_short_query_texts(catalog):
    assert catalog.ids == ["a", "b", "c", "d"]
    assert catalog.texts[0] == "Alien. Space horror."
    assert catalog.texts[2] == "Cars"  # an empty field is left out, not joined as ''
    assert catalog.query_texts[0] == "Alien"
    assert catalog.position["d"] == 3


def test_catalog_problems_are_counted_with_the_first_place(tmp_path):
    rows = [*ITEMS, {"id": "a", "title": "Again", "plot": ""}, {"id": "e", "title": "", "plot": ""},
            {"id": "b", "title": "Bis", "plot": ""}]
    path = write_jsonl(tmp_path / "items.jsonl", rows)
    with pytest.raises(DataError, match=r"2 duplicate item ids \(first at .*items\.jsonl:5, id 'a' first at line 1\) "
                                        r"\(also 1 items with empty text\); keep one row per item"):
        read_catalog(path, id_field="id", text_fields=["title", "plot"])


def test_catalog_field_missing_names_the_fields_it_has(tmp_path):
    path = write_jsonl(tmp_path / "items.jsonl", ITEMS)
    with pytest.raises(DataError, match=r"items\.jsonl:1: no field 'overview' \(fields: id, title, plot\)"):
        read_catalog(path, id_field="id", text_fields=["overview"])


def test_events_give_positives_in_time_order_and_everything_seen(tmp_path, catalog):
    path = write_events(tmp_path / "train.csv", [("u1", "b", 5, 20), ("u1", "a", 4.5, 10), ("u1", "c", 2, 15),
                                                 ("u2", "d", 4, 1)])
    interactions = read_events(path, catalog, **EVENT_FIELDS)
    assert interactions.sequences == {"u1": [0, 1], "u2": [3]}
    assert interactions.seen["u1"] == {0, 1, 2}  # the disliked item is seen, never recommended
    cases = training_cases(interactions)
    assert [(c.user, c.history, c.target) for c in cases] == [("u1", [0], 1)]


def test_events_on_unknown_items_are_an_error_or_skipped(tmp_path, catalog, caplog):
    path = write_events(tmp_path / "train.csv", [("u1", "a", 5, 1), ("u1", "zz", 5, 2), ("u2", "yy", 5, 3)])
    with pytest.raises(DataError, match=r"2 interactions on items not in the catalog \(first at .*train\.csv:3, "
                                        r"item 'zz'\); add those items to the catalog, or set data\.unknown_items: skip"):
        read_events(path, catalog, **EVENT_FIELDS)
    interactions = read_events(path, catalog, **EVENT_FIELDS, unknown_items="skip")
    assert interactions.sequences == {"u1": [0]}
    assert "2 interactions on items not in the catalog skipped" in caplog.text


def test_duplicate_events_are_refused(tmp_path, catalog):
    path = write_events(tmp_path / "train.csv", [("u1", "a", 5, 1), ("u1", "b", 5, 2), ("u1", "a", 5, 1)])
    with pytest.raises(DataError, match=r"1 duplicate interactions \(first at .*train\.csv:4, user 'u1' item 'a' "
                                        r"first at line 2\); keep one row per user, item and timestamp"):
        read_events(path, catalog, **EVENT_FIELDS)


def test_dev_targets_are_ranked_against_the_training_history(tmp_path, catalog):
    interactions = read_events(write_events(tmp_path / "train.csv", [("u1", "a", 5, 1), ("u1", "c", 1, 2)]),
                               catalog, **EVENT_FIELDS)
    cases = dev_cases(write_events(tmp_path / "dev.csv", [("u1", "d", 5, 3)]), catalog, interactions, **EVENT_FIELDS)
    assert [(c.history, c.seen, c.target) for c in cases] == [([0], {0, 2}, 3)]
    with pytest.raises(DataError, match=r"1 users have no training interactions \(first: 'u9'\)"):
        dev_cases(write_events(tmp_path / "dev2.csv", [("u9", "d", 5, 3)]), catalog, interactions, **EVENT_FIELDS)


def write_unisrec(folder: Path, train: list[str], valid: list[str]) -> None:
    (folder / "Sci.text").write_text("item_id:token\ttext:token_seq\nA1\tFirst thing.\nB2\tSecond thing.\n"
                                     "C3\tThird thing.\n", encoding="utf-8")
    (folder / "Sci.item2index").write_text("A1\t0\nB2\t1\nC3\t2\n", encoding="utf-8")
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    (folder / "Sci.train.inter").write_text(header + "".join(line + "\n" for line in train), encoding="utf-8")
    (folder / "Sci.valid.inter").write_text(header + "".join(line + "\n" for line in valid), encoding="utf-8")


def test_unisrec_sequences_map_item_numbers_to_the_catalog(tmp_path):
    write_unisrec(tmp_path, ["0\t0\t1", "0\t0 1\t2", "1\t2\t0"], ["0\t0 1 2\t0"])
    settings = RecommendData(items=str(tmp_path / "Sci.text"), id_field="item_id", text_fields=["text"],
                             interactions=str(tmp_path / "Sci.train.inter"), dev=str(tmp_path / "Sci.valid.inter"))
    catalog, interactions, dev = load_recommend_data(settings)
    assert catalog.ids == ["A1", "B2", "C3"] and catalog.texts[1] == "Second thing."
    assert interactions.sequences == {"0": [0, 1, 2], "1": [2, 0]}  # the longest prefix and its next item
    assert [(c.history, c.target) for c in dev] == [([0, 1, 2], 0)]


def test_unisrec_unknown_item_number_names_the_line(tmp_path):
    write_unisrec(tmp_path, ["0\t0\t1", "0\t0 7\t2"], [])
    catalog = read_catalog(tmp_path / "Sci.text", id_field="item_id", text_fields=["text"])
    with pytest.raises(DataError, match=r"1 interactions on items not in the catalog \(first at .*Sci\.train\.inter:3, "
                                        r"item '7'\)"):
        read_sequences(tmp_path / "Sci.train.inter", catalog)
    assert interactions_from_cases(read_sequences(tmp_path / "Sci.train.inter", catalog, unknown_items="skip")
                                   ).sequences == {"0": [0, 1]}


def test_config_reports_every_problem_and_resolves_paths(tmp_path):
    (tmp_path / "rec.yaml").write_text("data:\n  items: items.jsonl\n  interactions: train.csv\n  min_ratng: 4\n"
                                       "training:\n  hard_negative_ranks: [50, 10]\n  epochs: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_recommend_config(tmp_path / "rec.yaml")
    message = str(err.value)
    assert "3 problems" in message
    assert "data.min_ratng" in message and "min_rating" in message
    assert "training.epochs" in message
    assert "hard_negative_ranks" in message
    (tmp_path / "ok.yaml").write_text("data:\n  items: items.jsonl\n  interactions: train.csv\n", encoding="utf-8")
    config = load_recommend_config(tmp_path / "ok.yaml")
    assert config.data.items == str(tmp_path / "items.jsonl")
    assert config.output.dir == str(Path("runs") / "ok")


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "configs" / "recommend").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_shipped_recommend_configs_validate(path):
    config = load_recommend_config(path)
    assert config.data.items.endswith(Path(config.data.items).name)


def test_categories_are_read_from_a_list_or_split_text(tmp_path: Path):
    rows = [{"id": "a", "title": "Alien", "genres": "Horror|Sci-Fi"}, {"id": "b", "title": "Babe", "genres": ["Family"]},
            {"id": "c", "title": "Cars", "genres": "Animation, Comedy,"}, {"id": "d", "title": "Dune", "genres": ""}]
    catalog = read_catalog(write_jsonl(tmp_path / "items.jsonl", rows), id_field="id", text_fields=["title"],
                           category_field="genres")
    assert catalog.categories == [("Horror", "Sci-Fi"), ("Family",), ("Animation", "Comedy"), ()]
    assert read_catalog(tmp_path / "items.jsonl", id_field="id", text_fields=["title"]).categories is None
    with pytest.raises(DataError, match="no field 'shelf'"):
        read_catalog(tmp_path / "items.jsonl", id_field="id", text_fields=["title"], category_field="shelf")
