"""The labels file of ``whet zeroshot``: validation and how labels become text."""

from __future__ import annotations

import pytest

from whet.errors import ConfigError
from whet.zeroshot.labels import fill, load_labels, readable


def write(tmp_path, text: str):
    path = tmp_path / "labels.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_list_of_names_and_a_mapping_both_work(tmp_path):
    names = load_labels(write(tmp_path, "labels: [card_arrival, lost-card]\n"))
    assert list(names.labels) == ["card_arrival", "lost-card"]
    assert names.labels["card_arrival"].description is None
    mapping = load_labels(write(tmp_path, "labels:\n  a: {description: first}\n  b:\n"))
    assert mapping.labels["a"].description == "first" and mapping.labels["b"].examples == []


def test_unknown_keys_name_the_field_and_the_closest_valid_key(tmp_path):
    path = write(tmp_path, "labels:\n  a: {descripton: x}\n  b: {}\nhypothesys: 'x {label}'\n")
    with pytest.raises(ConfigError, match=r"labels\.yaml: 2 problems: labels\.a\.descripton: unknown key; did you "
                                          r"mean 'description'\?; hypothesys: unknown key; did you mean 'hypothesis'\?"):
        load_labels(path)


def test_one_label_and_a_none_label_clash_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"labels: 1 label\(s\); classification needs at least 2"):
        load_labels(write(tmp_path, "labels: [only]\n"))
    with pytest.raises(ConfigError, match=r"none_label 'none' is also a label; rename one of them"):
        load_labels(write(tmp_path, "labels: [none, other]\n"))
    with pytest.raises(ConfigError, match=r"not found; check the path"):
        load_labels(tmp_path / "missing.yaml")


def test_a_template_with_description_needs_every_label_to_have_one(tmp_path):
    labels = load_labels(write(tmp_path, "labels:\n  lost_card: {description: The card is gone.}\n  balance: {}\n"
                                         "hypothesis: 'This text is about {description}'\n"))
    assert fill(labels.hypothesis, "lost_card", labels.labels["lost_card"], labels, "hypothesis") == \
        "This text is about The card is gone."
    with pytest.raises(ConfigError, match=r"labels\.yaml: label 'balance' has no description, but hypothesis uses "
                                          r"\{description\}; add 'description:' under labels\.balance"):
        fill(labels.hypothesis, "balance", labels.labels["balance"], labels, "hypothesis")
    with pytest.raises(ConfigError, match=r"templates 'about \{topic\}': unknown placeholder 'topic'"):
        fill("about {topic}", "balance", labels.labels["balance"], labels, "templates")


def test_label_names_read_as_words():
    assert readable("card_arrival") == "card arrival"
    assert readable("lost-or_stolen  card") == "lost or stolen card"


def test_the_shipped_demo_labels_file_covers_the_demo_intents():
    import json

    from tests.conftest import DEMO

    labels = load_labels(DEMO / "intents" / "labels.yaml")
    intents = {json.loads(line)["label"] for line in (DEMO / "intents" / "train.jsonl").open()}
    assert set(labels.labels) == intents
    assert all(spec.description for spec in labels.labels.values())
