"""A served recommender without the server: catalog changes refused whole, undone when they cannot
be saved, and recommender directories told apart from task models before the server starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from whet.errors import DataError, ModelError
from whet.recommend.routes import RECOMMENDERS
from whet.recommend.service import CatalogNotSaved, DuplicateItems, ServedRecommender
from whet.serve.run import build_config

ITEMS = [("a", "A rocket to Mars"), ("b", "A chef cooks soup"), ("c", "Fresh pasta in a kitchen")]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from whet.models.sentence_model import load_sentence_encoder
    from whet.recommend.data import Catalog
    from whet.recommend.recommender import save_recommender

    directory = tmp_path_factory.mktemp("recommender")
    catalog = Catalog([i for i, _ in ITEMS], [t for _, t in ITEMS], [t for _, t in ITEMS])
    save_recommender(directory, load_sentence_encoder("builtin:minilm"), catalog, history_items=2, max_seq_length=32,
                     exact_below=100, lists=None, probe=1)
    return directory


@pytest.fixture
def served(model_dir: Path, tmp_path: Path) -> ServedRecommender:
    import shutil

    shutil.copytree(model_dir, tmp_path / "model")
    return ServedRecommender.load(tmp_path / "model")


def _failing_save(served: ServedRecommender, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(directory: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(served.recommender, "save_items", refuse)


def test_duplicates_are_all_named_and_nothing_is_added(served):
    with pytest.raises(DuplicateItems, match=r"items given twice: 'n'; items indexed already: 'a', 'b' \(remove them "
                                             r"first to replace their text\)"):
        served.add_items(["a", "n", "n", "b"], ["x", "y", "z", "w"], ["x", "y", "z", "w"])
    assert served.recommender.index.ntotal == 3 and "n" not in served.recommender.catalog.position


def test_a_change_that_cannot_be_saved_is_undone(served, monkeypatch):
    served.remove_items(["a"])
    _failing_save(served, monkeypatch)
    with pytest.raises(CatalogNotSaved, match=r"could not save the catalog to .*No space left on device.*nothing was "
                                              r"changed"):
        served.add_items(["a", "n"], ["A new text", "New"], ["A new text", "New"])
    recommender = served.recommender
    assert recommender.index.ntotal == 2 and not recommender.indexed[recommender.catalog.position["a"]]
    assert recommender.catalog.texts[recommender.catalog.position["a"]] == "A rocket to Mars"
    assert "n" not in recommender.catalog.position and len(recommender.catalog) == 3
    with pytest.raises(CatalogNotSaved):
        served.remove_items(["b"])
    assert recommender.index.ntotal == 2 and recommender.indexed[recommender.catalog.position["b"]]
    # The directory still holds what was last saved: 'a' removed, nothing added.
    rows = [json.loads(line) for line in (served.directory / "items.jsonl").read_text().splitlines()]
    assert [(r["id"], r["indexed"]) for r in rows] == [("a", False), ("b", True), ("c", True)]


def test_an_undone_addition_leaves_the_categories_in_step_with_the_catalog(served, monkeypatch):
    catalog = served.recommender.catalog
    catalog.categories = [("space",), ("food",), ("food",)]
    _failing_save(served, monkeypatch)
    with pytest.raises(CatalogNotSaved):
        served.add_items(["d", "e"], ["A moon base", "A bakery"], ["A moon base", "A bakery"])
    assert catalog.ids == ["a", "b", "c"] and catalog.categories == [("space",), ("food",), ("food",)]
    assert set(catalog.position) == {"a", "b", "c"} and len(served.recommender.indexed) == 3


def test_removals_name_unknown_and_removed_ids(served):
    served.remove_items(["a"])
    with pytest.raises(DataError, match=r"ids not indexed \(removed already\): 'a'"):
        served.remove_items(["a", "b"])
    with pytest.raises(DataError, match=r"items 'x', 'y' are not in the catalog"):
        served.remove_items(["x", "b", "y"])
    assert served.recommender.index.ntotal == 2


def test_serve_tells_recommender_directories_from_task_models(model_dir, tmp_path):
    config = build_config([f"films={model_dir}"], None, {}, [], kinds=(RECOMMENDERS,))
    assert config.models == {"films": str(model_dir)}
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "recommender.json").write_text("{}")
    with pytest.raises(ModelError, match=r"is not a complete recommender model: encoder, items\.jsonl, items\.faiss "
                                         r"missing"):
        build_config([str(tmp_path / "broken")], None, {}, [], kinds=(RECOMMENDERS,))
    with pytest.raises(ModelError, match=r"has no whet\.json"):  # without the kind: a task model, which it is not
        build_config([str(model_dir)], None, {}, [])
