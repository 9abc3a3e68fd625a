"""CLUENER2020 JSON lines: reading (end-inclusive character spans, checked against their
mentions), writing predictions back in the form, and Chinese text split per character."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from whet.data.cluener import cluener_record
from whet.data.ner_jsonl import read_ner_jsonl
from whet.data.schemes import entity_spans
from whet.data.settings import DataConfig
from whet.errors import DataError
from whet.tasks.token_classification import prediction_inputs

RECORDS = [
    {"text": "浙商银行企业信贷部叶老桂博士则从另一个角度对五道门槛进行了解读。叶老桂认为，",
     "label": {"name": {"叶老桂": [[9, 11], [32, 34]]}, "company": {"浙商银行": [[0, 3]]}}},
    {"text": "生生不息CSOL生化狂潮让你填弹狂扫", "label": {"game": {"CSOL": [[4, 7]]}}},
    {"text": "那不勒斯vs锡耶纳以及桑普vs热那亚之上呢？",
     "label": {"organization": {"那不勒斯": [[0, 3]], "锡耶纳": [[6, 8]], "桑普": [[11, 12]], "热那亚": [[15, 17]]}}},
    {"text": "这是一句没有实体的话。", "label": {}},
]


def write_lines(path: Path, *records: Any) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def character_entities(sentence) -> list[tuple[str, int, int, str]]:
    """(type, start, end inclusive, text) of each entity of a read sentence, from its word tags."""
    out = []
    for kind, first, last in entity_spans(sentence.tags):
        start, end = sentence.offsets[first][0], sentence.offsets[last - 1][1]
        out.append((kind, start, end - 1, sentence.text[start:end]))
    return sorted(out)


def as_prediction(sentence) -> dict:
    """A read sentence as ``whet predict`` would answer for its text with its gold tags."""
    return {"text": sentence.text,
            "entities": [{"type": kind, "start": start, "end": end + 1, "text": text, "score": 1.0}
                         for kind, start, end, text in character_entities(sentence)]}


def test_reads_end_inclusive_spans_and_several_mentions(tmp_path: Path) -> None:
    sentences = read_ner_jsonl(write_lines(tmp_path / "train.json", *RECORDS))
    assert [s.source for s in sentences] == [f"{tmp_path / 'train.json'}:{n}" for n in (1, 2, 3, 4)]
    first = sentences[0]
    # One word per Chinese character; the mention listed twice gives two entities.
    assert first.tokens[:4] == ["浙", "商", "银", "行"] and len(first.tokens) == len(first.text)
    assert first.tags[:5] == ["B-company", "I-company", "I-company", "I-company", "O"]
    assert character_entities(first) == [("company", 0, 3, "浙商银行"), ("name", 9, 11, "叶老桂"),
                                         ("name", 32, 34, "叶老桂")]
    # A Latin run inside Chinese text stays one word, as raw-text prediction splits it.
    assert sentences[1].tokens[4] == "CSOL" and sentences[1].tags[4] == "B-game"
    assert [e[3] for e in character_entities(sentences[2])] == ["那不勒斯", "锡耶纳", "桑普", "热那亚"]
    assert sentences[3].tags == ["O"] * len(sentences[3].text)


def test_an_entity_edge_inside_a_latin_run_splits_it(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.json", {"text": "看NBA2K", "label": {"organization": {"NBA": [[1, 3]]}}})
    [sentence] = read_ner_jsonl(path)
    assert sentence.tokens == ["看", "NBA", "2K"] and sentence.tags == ["O", "B-organization", "O"]


@pytest.mark.parametrize("label, message", [
    ({"name": {"叶老": [[9, 11]]}},
     r"t\.json:2: name mention '叶老' at \[9, 11\] reads '叶老桂' in the text; it occurs at \[9, 10\]; "
     r"fix the offsets \(end is inclusive\) or the mention"),
    ({"name": {"张三": [[0, 1]]}}, r"mention '张三' at \[0, 1\] reads '浙商'.*it does not occur in the text"),
    ({"name": {"叶老桂": [[9, 12]]}}, r"reads '叶老桂博' in the text; it occurs at \[9, 11\]"),
    ({"name": {"叶老桂": [[40, 42]]}}, r"at \[40, 42\] is outside the text of length 14; .*end is inclusive"),
    ({"name": {"叶老桂": [[11, 9]]}}, r"at \[11, 9\] ends before it starts; end is inclusive: one character at 3 is \[3, 3\]"),
    ({"name": {"叶老桂": [9, 11]}}, r"has 9, not a \[start, end\] pair of whole numbers"),
    ({"name": {"叶老桂": [[9, True]]}}, r"not a \[start, end\] pair"),
    ({"name": {"叶老桂": []}}, r"must map to a list of \[start, end\] pairs"),
    ({"name": [[9, 11]]}, r'label "name" must map mentions to spans'),
    ({"a name": {"叶老桂": [[9, 11]]}}, r"entity type 'a name' must be a non-empty string without spaces"),
])
def test_bad_labels_name_the_line_and_the_fix(tmp_path: Path, label: dict, message: str) -> None:
    path = write_lines(tmp_path / "t.json", RECORDS[3], {"text": "浙商银行企业信贷部叶老桂博士", "label": label})
    with pytest.raises(DataError, match=message):
        read_ner_jsonl(path)


def test_overlapping_spans_are_reported_and_the_longer_kept(tmp_path: Path, caplog) -> None:
    text = "据了解，题为《招商银行：投资永隆银行浮亏逾百亿港元》的文章"
    record = {"text": text, "label": {"book": {"招商银行：投资永隆银行浮亏逾百亿港元": [[7, 24]]},
                                      "company": {"招商银行": [[7, 10]]}}}
    path = write_lines(tmp_path / "t.json", record)
    with caplog.at_level(logging.WARNING, logger="whet"):
        [sentence] = read_ner_jsonl(path)
    assert character_entities(sentence) == [("book", 7, 24, "招商银行：投资永隆银行浮亏逾百亿港元")]
    assert f"{path}:1: entities book [7, 24] and company [7, 10] overlap" in caplog.text
    assert "keeping book (the longer)" in caplog.text


def test_written_predictions_read_back_equal(tmp_path: Path) -> None:
    sentences = read_ner_jsonl(write_lines(tmp_path / "gold.json", *RECORDS))
    written = [cluener_record(as_prediction(s)) for s in sentences]
    assert written == RECORDS  # the same lines (label order aside: dicts compare without it)
    again = read_ner_jsonl(write_lines(tmp_path / "written.json", *written))
    assert [(s.text, s.tokens, s.tags) for s in again] == [(s.text, s.tokens, s.tags) for s in sentences]


def test_written_record_keeps_the_id_first_and_needs_offsets() -> None:
    record = cluener_record({"id": 7, "text": "李明", "entities": [{"type": "name", "start": 0, "end": 2}]})
    assert list(record) == ["id", "text", "label"] and record["label"] == {"name": {"李明": [[0, 1]]}}
    with pytest.raises(DataError, match="needs character offsets.*give the inputs as text"):
        cluener_record({"text": "李 明", "entities": [{"type": "name", "token_start": 0, "token_end": 2}]})


def test_chinese_raw_text_is_split_per_character_and_other_scripts_are_not() -> None:
    chinese, english = prediction_inputs(["彭小军认为，NBA2K好玩。", {"text": "Mr. O'Neil visited the U.S.", "id": 3}],
                                         DataConfig())
    assert chinese.tokens == ["彭", "小", "军", "认", "为", "，", "NBA2K", "好", "玩", "。"]
    assert all(chinese.text[s:e] == t for (s, e), t in zip(chinese.offsets, chinese.tokens))
    assert english.tokens == ["Mr", ".", "O'Neil", "visited", "the", "U.S", "."] and english.id == 3
