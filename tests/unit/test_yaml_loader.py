"""How whet reads YAML: keys as written, only true/false are booleans, the safe loader otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from whet.config import read_yaml
from whet.errors import ConfigError
from whet.io.yaml_loader import load_yaml, not_text

# Words YAML 1.1 reads as booleans or null, and a number: all of them are names when written as keys.
NAMES = ["yes", "no", "on", "off", "y", "n", "Yes", "NO", "null", "~", "1.0", "1.10", "007", "true", "false"]


@pytest.mark.parametrize("name", NAMES)
def test_a_key_is_the_text_written(name: str) -> None:
    assert load_yaml(f"{name}: x\nlabels:\n  {name}: {{}}\n") == {name: "x", "labels": {name: {}}}


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n", "Yes", "OFF"])
def test_yaml_1_1_boolean_words_are_text_as_values(word: str) -> None:
    assert load_yaml(f"a: {word}\nb: [{word}]\n") == {"a": word, "b": [word]}


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False), ("FALSE", False),
    ("null", None), ("~", None), ("", None), ("3", 3), ("1.0", 1.0), ("'yes'", "yes"), ('"1.0"', "1.0"),
])
def test_other_values_keep_the_safe_loaders_types(text: str, value: object) -> None:
    parsed = load_yaml(f"a: {text}\n")["a"]
    assert parsed == value and type(parsed) is type(value)


def test_anchors_and_merge_keys_still_work() -> None:
    text = "base: &base {lr: 1.0e-4, bf16: true}\nrun:\n  <<: *base\n  lr: 2.0e-4\n"
    assert load_yaml(text)["run"] == {"lr": 2e-4, "bf16": True}


def test_pyyaml_itself_is_left_as_it_was() -> None:
    assert yaml.safe_load("yes: on\n") == {True: True}


def test_a_list_as_a_key_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.yaml"
    path.write_text("labels:\n  ? [a, b]\n  : {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"labels\.yaml:2: invalid YAML \(a key must be a name, not a list or a "
                                          r"mapping\)"):
        read_yaml(path)


@pytest.mark.parametrize(("value", "message"), [
    (None, 'null was read as null, not text; put it in quotes ("null") to keep it as written'),
    (1.0, 'was read as a number, not text; put it in quotes ("1.0")'),
    (True, 'true was read as a boolean'),
])
def test_not_text_names_what_the_value_was_read_as(value: object, message: str) -> None:
    assert message in not_text(value)


@pytest.mark.parametrize("value", ["text", "", ["a"], {"a": 1}])
def test_text_and_containers_are_not_flagged(value: object) -> None:
    assert not_text(value) is None


def test_every_yaml_file_whet_reads_goes_through_the_loader() -> None:
    readers = [path.relative_to(ROOT).as_posix() for path in sorted((ROOT / "whet").rglob("*.py"))
               if any(call in path.read_text(encoding="utf-8") for call in ("yaml.safe_load(", "yaml.load("))]
    assert readers == ["whet/io/yaml_loader.py"]
