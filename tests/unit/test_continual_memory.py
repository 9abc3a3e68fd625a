"""The replay memory: bounded, class-balanced or reservoir, saved as JSON lines and read back."""

from __future__ import annotations

import pytest

from whet.continual.memory import MEMORY_FILE, ReplayMemory, balanced_quotas, example_class, load_memory, save_memory
from whet.data.examples import TaggedSentence, TextExample
from whet.errors import ModelError


def texts(labels: list[str], per_label: int) -> list[TextExample]:
    return [TextExample(text=f"{label} example {i}", labels=[label]) for label in labels for i in range(per_label)]


def test_class_balanced_memory_is_bounded_and_gives_each_class_an_equal_share():
    memory = ReplayMemory(size=6, selection="class-balanced")
    memory.update("one", texts(["a", "b", "c"], 10), seed=1)
    assert len(memory.items) == 6 and memory.class_counts() == {"a": 2, "b": 2, "c": 2}
    kept_a = [ex.text for _, ex in memory.items if ex.labels == ["a"]]
    memory.update("two", texts(["d", "e", "f"], 10), seed=1)
    assert len(memory.items) == 6
    assert memory.class_counts() == {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1}
    # An old class keeps one of the examples it had rather than drawing new ones.
    assert [ex.text for _, ex in memory.items if ex.labels == ["a"]][0] in kept_a
    assert {name for name, _ in memory.items} == {"one", "two"}
    assert memory.seen == 60


def test_a_small_class_leaves_its_unused_share_to_the_others():
    assert balanced_quotas({"a": 1, "b": 10, "c": 10}, 9) == {"a": 1, "b": 4, "c": 4}
    assert balanced_quotas({"a": 2, "b": 2}, 10) == {"a": 2, "b": 2}
    assert sum(balanced_quotas({str(i): 5 for i in range(7)}, 10).values()) == 10


def test_reservoir_memory_is_bounded_and_samples_every_experience():
    memory = ReplayMemory(size=20, selection="reservoir")
    memory.update("one", texts(["a"], 100), seed=3)
    memory.update("two", texts(["b"], 100), seed=3)
    assert len(memory.items) == 20 and memory.seen == 200
    counts = memory.class_counts()
    assert counts["a"] > 0 and counts["b"] > 0  # each half of the stream is represented (p(all one) ~ 1e-6)


def test_memory_choices_are_repeatable_from_the_seed():
    first, second = (ReplayMemory(size=5, selection="class-balanced") for _ in range(2))
    for memory in (first, second):
        memory.update("one", texts(["a", "b"], 20), seed=7)
    assert [ex.text for _, ex in first.items] == [ex.text for _, ex in second.items]


def test_memory_is_saved_as_json_lines_and_read_back(tmp_path):
    memory = ReplayMemory(size=4, selection="class-balanced")
    memory.update("intents", [TextExample(text="hi", labels=["greet"]),
                              TextExample(text="a", labels=["x", "y"], text_pair="b")], seed=0)
    memory.update("ner", [TaggedSentence(tokens=["Maria", "flew"], tags=["B-PER", "O"])], seed=0)
    save_memory(tmp_path, memory)
    lines = (tmp_path / MEMORY_FILE).read_text().splitlines()
    assert len(lines) == 4 and '"seen": 3' in lines[0]
    loaded = load_memory(tmp_path, size=4, selection="class-balanced")
    assert loaded.seen == 3
    assert [(name, example_class(ex)) for name, ex in loaded.items] == [(n, example_class(e)) for n, e in memory.items]
    by_class = {example_class(ex): ex for _, ex in loaded.items}
    assert by_class["PER"].tokens == ["Maria", "flew"] and by_class["PER"].tags == ["B-PER", "O"]
    assert by_class["x"].text_pair == "b" and by_class["x"].labels == ["x", "y"]


def test_a_smaller_memory_setting_shrinks_the_saved_memory(tmp_path):
    memory = ReplayMemory(size=10, selection="class-balanced")
    memory.update("one", texts(["a", "b"], 5), seed=0)
    save_memory(tmp_path, memory)
    loaded = load_memory(tmp_path, size=4, selection="class-balanced")
    assert loaded.class_counts() == {"a": 2, "b": 2}


def test_no_memory_file_gives_an_empty_memory_and_a_broken_one_a_clear_error(tmp_path):
    assert load_memory(tmp_path, size=3, selection="reservoir").items == []
    (tmp_path / MEMORY_FILE).write_text("not json\n")
    with pytest.raises(ModelError, match="not a replay memory written by whet"):
        load_memory(tmp_path, size=3, selection="reservoir")
