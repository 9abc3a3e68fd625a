"""Reading question-answering data: SQuAD JSON v1.1/v2.0 and JSON Lines, and their errors."""

from __future__ import annotations

import json

import pytest

from whet.data.examples import Answer
from whet.errors import DataError
from whet.tasks.question_answering import read_qa_file

CONTEXT = "Ana Silva lives in Porto. She works as a baker."


def squad(qas: list[dict], context: str = CONTEXT) -> dict:
    return {"version": "v2.0", "data": [{"title": "Ana", "paragraphs": [{"context": context, "qas": qas}]}]}


def write(tmp_path, name: str, content: str):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_squad_v1_json_with_several_gold_answers(tmp_path):
    document = squad([{"id": "a1", "question": "Where does Ana live?",
                       "answers": [{"text": "Porto", "answer_start": 19}, {"text": "in Porto", "answer_start": 16}]}])
    path = write(tmp_path, "train.json", json.dumps(document, indent=2))
    [example] = read_qa_file(path)
    assert example.id == "a1" and example.context == CONTEXT
    assert example.answers == [Answer("Porto", 19), Answer("in Porto", 16)]
    assert example.answers[0].end == 24
    assert example.source == f"{path}: question a1"


def test_squad_v2_unanswerable_questions_have_no_answers(tmp_path):
    document = squad([
        {"id": "a1", "question": "Where does Ana live?", "answers": [{"text": "Porto", "answer_start": 19}],
         "is_impossible": False},
        {"id": "a2", "question": "When was Ana born?", "answers": [], "is_impossible": True,
         "plausible_answers": [{"text": "Porto", "answer_start": 19}]},
    ])
    examples = read_qa_file(write(tmp_path, "dev.json", json.dumps(document)))
    assert [len(ex.answers) for ex in examples] == [1, 0]


def test_jsonl_answers_in_both_forms_and_optional_id(tmp_path):
    rows = [
        {"id": 7, "question": "Where does Ana live?", "context": CONTEXT,
         "answers": {"text": ["Porto"], "answer_start": [19]}},
        {"question": "What is Ana's job?", "context": CONTEXT, "answers": [{"text": "a baker", "answer_start": 39}]},
        {"question": "How old is Ana?", "context": CONTEXT, "answers": {"text": [], "answer_start": []}},
    ]
    path = write(tmp_path, "train.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    examples = read_qa_file(path)
    assert [ex.id for ex in examples] == ["7", None, None]
    assert [ex.answers for ex in examples] == [[Answer("Porto", 19)], [Answer("a baker", 39)], []]
    assert examples[1].source == f"{path}:2"


def test_a_json_file_of_json_lines_is_read_as_json_lines(tmp_path):
    row = {"question": "Where does Ana live?", "context": CONTEXT, "answers": [{"text": "Porto", "answer_start": 19}]}
    for lines in (1, 2):
        path = write(tmp_path, f"lines{lines}.json", (json.dumps(row) + "\n") * lines)
        assert len(read_qa_file(path)) == lines


def test_questions_to_predict_on_need_no_answers(tmp_path):
    path = write(tmp_path, "questions.jsonl", json.dumps({"question": "Where?", "context": CONTEXT}) + "\n")
    [example] = read_qa_file(path, require_answers=False)
    assert example.answers is None
    with pytest.raises(DataError, match=r"questions\.jsonl:1: no 'answers'; give the answers \(an empty list"):
        read_qa_file(path)


BAD_JSONL = {
    "answer not at its offset": (
        {"question": "Where?", "context": CONTEXT, "answers": [{"text": "Porto", "answer_start": 18}]},
        r"bad\.jsonl:2: answer 1 'Porto' is not at answer_start 18 of the context \(found ' Port'\); "
        r"it occurs at offset 19; fix answer_start"),
    "answer not in the context": (
        {"question": "Where?", "context": CONTEXT, "answers": {"text": ["Lisbon"], "answer_start": [19]}},
        r"bad\.jsonl:2: answer 1 'Lisbon' is not at answer_start 19 .*does not occur in the context"),
    "missing context": (
        {"question": "Where?", "answers": []},
        r"bad\.jsonl:2: 'context' must be a non-empty string \(found missing\)"),
    "empty question": (
        {"question": " ", "context": CONTEXT, "answers": []},
        r"bad\.jsonl:2: 'question' must be a non-empty string"),
    "offsets and texts differ in number": (
        {"question": "Where?", "context": CONTEXT, "answers": {"text": ["Porto"], "answer_start": []}},
        r"bad\.jsonl:2: 'answers' needs as many 'answer_start' offsets as 'text' entries"),
    "offset is not a number": (
        {"question": "Where?", "context": CONTEXT, "answers": [{"text": "Porto", "answer_start": "19"}]},
        r"bad\.jsonl:2: answer 1 answer_start must be a character offset"),
    "empty answer text": (
        {"question": "Where?", "context": CONTEXT, "answers": [{"text": "", "answer_start": 0}]},
        r"bad\.jsonl:2: answer 1 text must be a non-empty string; give an empty answers list"),
    "answers of the wrong type": (
        {"question": "Where?", "context": CONTEXT, "answers": "Porto"},
        r"bad\.jsonl:2: 'answers' must be a list of"),
}


@pytest.mark.parametrize("case", sorted(BAD_JSONL))
def test_bad_jsonl_records_name_file_and_line(tmp_path, case):
    record, message = BAD_JSONL[case]
    good = {"question": "Where?", "context": CONTEXT, "answers": [{"text": "Porto", "answer_start": 19}]}
    path = write(tmp_path, "bad.jsonl", json.dumps(good) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(DataError, match=message):
        read_qa_file(path)


def test_bad_squad_answer_names_the_question_id(tmp_path):
    document = squad([{"id": "q-17", "question": "Where?", "answers": [{"text": "porto", "answer_start": 19}]}])
    path = write(tmp_path, "train.json", json.dumps(document))
    with pytest.raises(DataError, match=r"train\.json: question q-17: answer 1 'porto' is not at answer_start 19 "
                                        r".*the text does not occur in the context"):
        read_qa_file(path)


def test_impossible_question_with_answers_is_refused(tmp_path):
    document = squad([{"id": "q1", "question": "Where?", "is_impossible": True,
                       "answers": [{"text": "Porto", "answer_start": 19}]}])
    with pytest.raises(DataError, match=r"question q1: is_impossible is true but answers are given"):
        read_qa_file(write(tmp_path, "train.json", json.dumps(document)))


def test_broken_squad_json_names_the_line(tmp_path):
    text = json.dumps(squad([{"id": "q1", "question": "Where?", "answers": []}]), indent=2)
    path = write(tmp_path, "train.json", text.replace('"Where?"', '"Where?",,', 1))
    with pytest.raises(DataError, match=r"train\.json:\d+: invalid JSON .*expected SQuAD JSON"):
        read_qa_file(path)


def test_squad_without_paragraphs_is_refused(tmp_path):
    path = write(tmp_path, "train.json", json.dumps({"data": [{"title": "x"}]}))
    with pytest.raises(DataError, match=r"data\[0\] must be an object with a \"paragraphs\" list"):
        read_qa_file(path)


def test_declared_format_must_fit_the_task(tmp_path):
    path = write(tmp_path, "train.csv", "question,context\n")
    with pytest.raises(DataError, match="cannot tell the format"):
        read_qa_file(path)
    with pytest.raises(DataError, match="data.format 'csv' is not a question-answering format"):
        read_qa_file(path, format="csv")
