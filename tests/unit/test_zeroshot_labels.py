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
    with pytest.raises(ConfigError) as err:
        load_labels(path)
    assert str(err.value).splitlines() == [f"{path}: 2 problems:",
                                           "  labels.a.descripton: unknown key; did you mean 'description'?",
                                           "  hypothesys: unknown key; did you mean 'hypothesis'?"]


def test_a_file_with_many_problems_shows_ten_and_counts_the_rest(tmp_path):
    path = write(tmp_path, "labels:\n" + "".join(f"  l{i}: {{descripton: x}}\n" for i in range(151)))
    with pytest.raises(ConfigError, match=r"(?m)^  \.\.\. and 141 more$") as err:
        load_labels(path)
    lines = str(err.value).splitlines()
    assert lines[0] == f"{path}: 151 problems:" and len(lines) == 12
    assert lines[1] == "  labels.l0.descripton: unknown key; did you mean 'description'?"


# Label names are the text written: YAML 1.1 would read yes/no/on/off as booleans, null as None, 1.0 as a number.

NAME_WORDS = ["yes", "no", "on", "off", "null", "1.0"]


def test_label_keys_are_the_names_written(tmp_path):
    text = "labels:\n" + "".join(f"  {name}:\n    description: {name}\n    verbalizers: [{name}]\n"
                                   for name in NAME_WORDS[:4])
    text += "  null: {description: no, examples: [yes, off]}\n  1.0: {}\ncalibrate: false\n"
    labels = load_labels(write(tmp_path, text))
    assert list(labels.labels) == NAME_WORDS
    assert [labels.labels[name].description for name in NAME_WORDS[:4]] == NAME_WORDS[:4]
    assert [labels.labels[name].verbalizers for name in NAME_WORDS[:4]] == [[name] for name in NAME_WORDS[:4]]
    assert labels.labels["null"].description == "no" and labels.labels["null"].examples == ["yes", "off"]
    assert labels.calibrate is False


def test_a_list_of_names_keeps_yes_no_on_off_and_asks_to_quote_null_and_numbers(tmp_path):
    labels = load_labels(write(tmp_path, "labels: [yes, no, on, off, 'null', '1.0']\n"))
    assert list(labels.labels) == NAME_WORDS
    with pytest.raises(ConfigError, match=r"labels: item 5: null was read as null, not text; put it in quotes "
                                          r"\(\"null\"\) to keep it as written, or write the labels as keys"):
        load_labels(write(tmp_path, "labels: [yes, no, on, off, null, 1.0]\n"))
    with pytest.raises(ConfigError, match=r"labels\.a\.examples\.1: 1\.5 was read as a number, not text; put it "
                                          r"in quotes"):
        load_labels(write(tmp_path, "labels:\n  a: {examples: [fine, 1.5]}\n  b: {}\n"))


def test_labels_written_at_the_top_level_are_pointed_under_labels(tmp_path):
    path = write(tmp_path, "".join(f"{name}: {{description: x}}\n" for name in ["yes", "no", "balance", "card", "pin",
                                                                                 "transfer", "refund"]))
    with pytest.raises(ConfigError) as err:
        load_labels(path)
    assert str(err.value) == (f"{path}: the top-level keys look like labels (yes, no, balance, card, pin, ... "
                              f"(7 in all)); put them under a 'labels:' key, indented by two spaces")
    # A single misspelt key is named as one, with the closest valid key.
    with pytest.raises(ConfigError, match=r"lables: unknown key; did you mean 'labels'\?"):
        load_labels(write(tmp_path, "lables: [a, b]\n"))


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
