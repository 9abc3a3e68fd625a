"""Reading multiple-choice data and its errors."""

from __future__ import annotations

import json

import pytest

from whet.errors import DataError
from whet.tasks.multiple_choice import read_choice_file

GOOD = {"question": "Which one is a fruit?", "options": ["a hammer", "a pear", "a cloud"], "answer": 1}


def write(tmp_path, rows: list[dict], name: str = "mc.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_reads_questions_options_answers_and_ids(tmp_path):
    path = write(tmp_path, [GOOD, {**GOOD, "id": "q2", "answer": 0}])
    first, second = read_choice_file(path)
    assert first.options == ["a hammer", "a pear", "a cloud"] and first.answer == 1 and first.id is None
    assert second.id == "q2" and second.answer == 0 and second.source == f"{path}:2"


def test_answer_may_be_missing_only_for_prediction(tmp_path):
    path = write(tmp_path, [{k: v for k, v in GOOD.items() if k != "answer"}])
    assert read_choice_file(path, require_answers=False)[0].answer is None
    with pytest.raises(DataError, match=r"mc\.jsonl:1: no 'answer'; give the 0-based index of the right option"):
        read_choice_file(path)


BAD = {
    "answer out of range": ({**GOOD, "answer": 3}, r"mc\.jsonl:2: 'answer' is 3; it must be the 0-based index "
                                                   r"of the right option, 0 to 2"),
    "answer as text": ({**GOOD, "answer": "a pear"}, r"mc\.jsonl:2: 'answer' is 'a pear'; it must be the 0-based"),
    "answer as boolean": ({**GOOD, "answer": True}, r"mc\.jsonl:2: 'answer' is True"),
    "one option": ({**GOOD, "options": ["a pear"], "answer": 0}, r"mc\.jsonl:2: 'options' must be a list of at least 2"),
    "empty option": ({**GOOD, "options": ["a hammer", " ", "a pear"]}, r"mc\.jsonl:2: option 1 must be a non-empty"),
    "no question": ({"options": GOOD["options"], "answer": 1}, r"mc\.jsonl:2: 'question' must be a non-empty string"),
    "unequal option counts": (
        {**GOOD, "options": ["a hammer", "a pear"], "answer": 1},
        r"mc\.jsonl:2: 2 options, but .*mc\.jsonl:1 has 3; every question in a file needs the same number of options"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_records_name_file_and_line(tmp_path, case):
    record, message = BAD[case]
    with pytest.raises(DataError, match=message):
        read_choice_file(write(tmp_path, [GOOD, record]))


def test_csv_is_not_a_multiple_choice_format(tmp_path):
    with pytest.raises(DataError, match="data.format 'csv' is not a multiple-choice format; use one of jsonl"):
        read_choice_file(write(tmp_path, [GOOD]), format="csv")
