"""Answers files (YAML and JSON lines, every problem with its place) and reading replies in a
conversation (which offered intent, declines, slot values)."""

from __future__ import annotations

import json

import pytest

from whet.assistant.answers import Slot, parse_answers, read_answers
from whet.assistant.decision import intent_decision, reading_from_prediction
from whet.assistant.dialogue import chosen_option, declines, slot_values
from whet.errors import DataError


def test_jsonl_answers_and_their_problems(tmp_path):
    path = tmp_path / "answers.jsonl"
    lines = [{"intent": "greet", "reply": "Hi!", "follow_up": "How can I help?"},
             {"intent": "pay", "replies": ["Paid {amount}."], "slots": {"amount": {"pattern": "(\\d+)"}}},
             {"intent": "agent", "handoff": True},
             {"intent": "bad", "replies": ["{who} here"]},
             {"intent": "typo", "reply": "x", "folow_up": "y"}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    answers, problems = parse_answers(path)
    assert set(answers.intents) == {"greet", "pay", "agent"} and answers.handoff_intents == {"agent"}
    assert answers.invalid == {"bad", "typo"}
    assert problems[0].startswith(f"{path}:4: ") and "uses {who}, which no slot fills" in problems[0]
    assert problems[1].startswith(f"{path}:5: folow_up: ")
    assert answers.title("pay") == "pay" and answers.intents["greet"].replies == ["Hi!"]
    with pytest.raises(DataError, match="2 problems"):
        read_answers(path)
    path.write_text('{"intent": "a", "reply": "x"}\n{"intent": "a", "reply": "y"}\n')
    with pytest.raises(DataError, match=r"answers.jsonl:2: intent 'a' again \(first at .*:1\)"):
        parse_answers(path)


def test_slot_needs_a_source_and_a_valid_pattern():
    with pytest.raises(ValueError, match="the slot has no source"):
        Slot()
    with pytest.raises(ValueError, match="not a valid regular expression"):
        Slot(pattern="(")


@pytest.mark.parametrize("text, picked", [
    ("the second one", "transfer_money"), ("2", "transfer_money"), ("first", "check_balance"),
    ("Send money please", "transfer_money"), ("check my balance", None), ("check your balance", "check_balance"),
    ("my second card was stolen last night", None), ("both", None)])
def test_chosen_option(text, picked):
    titles = {"check_balance": "check your balance", "transfer_money": "send money"}
    assert chosen_option(text, ["check_balance", "transfer_money"], titles) == picked


@pytest.mark.parametrize("text, declined", [("no", True), ("Neither.", True), ("no, I want a loan", True),
                                            ("none of them", True), ("not sure", False), ("nobody told me", False)])
def test_declines(text, declined):
    assert declines(text) is declined


def test_slot_values_prefer_entities_then_patterns():
    slots = {"amount": Slot(entity="MONEY", pattern=r"(\d+) ?(?:euro|eur)"), "city": Slot(entity="LOC", ask="Where?")}
    entities = [{"type": "LOC", "text": "Lisbon"}]
    assert slot_values(slots, "send 40 euro to Lisbon", entities) == {"amount": "40", "city": "Lisbon"}
    assert slot_values(slots, "nothing here", []) == {}


def test_out_of_scope_class_is_never_a_candidate():
    record = {"label": "oos", "score": 0.6, "probabilities": {"oos": 0.6, "a": 0.3, "b": 0.1}}
    reading = reading_from_prediction(record)
    assert reading.out_of_scope and reading.intent == "a" and [c for c, _ in reading.candidates] == ["a", "b"]
    assert intent_decision(reading, answer_threshold=0.5, clarify_margin=0.1).action == "fallback"


def test_decision_quality_counts_each_outcome():
    from whet.assistant.decision import Decision
    from whet.assistant.evaluation import decision_quality

    gold = ["a", "a", "b", "agent", "oos", "oos", "c"]
    decisions = [Decision("answer", "a"), Decision("clarify", options=["b", "a"]), Decision("answer", "a"),
                 Decision("handoff", "agent"), Decision("answer", "a"), Decision("retrieve"), Decision("handoff")]
    report = decision_quality(gold, decisions)
    assert (report["in_scope"], report["out_of_scope"]) == (5, 2)
    assert report["answered_correctly"] == 0.2 and report["resolved"] == 0.6  # a, the clarification, the agent
    assert report["wrong_answers"] == round(2 / 7, 4) and report["oos_answered"] == 0.5
    assert report["automation"] == round(5 / 7, 4)
    assert report["actions_out_of_scope"] == {"answer": 0.5, "clarify": 0.0, "retrieve": 0.5, "handoff": 0.0}
