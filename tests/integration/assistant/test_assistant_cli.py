"""The ``whet assistant`` commands as a user runs them: validate, chat in a terminal, eval, and
the one-line errors at start (a locked database, answers that miss intents)."""

from __future__ import annotations

import json
import sqlite3

import pytest
import yaml

from tests.integration.assistant.conftest import INTENTS, write_assistant
from tests.integration.test_cli_errors import run_all


@pytest.fixture(scope="module")
def results(intent_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("assistant-cli")
    good = write_assistant(root / "good", intent_model)
    broken = write_assistant(root / "broken", intent_model, knowledge={"files": ["missing/*.md"]})
    (broken.parent / "answers.yaml").write_text(yaml.safe_dump({
        "check_balance": {"replies": ["Your balance is {amount}."]},
        "lost_card": {"replies": ["Blocked."], "slots": {"card": {"entity": "CARD"}}},
        "transfer_money": {"replies": ["Done."]},
        "refund": {"replies": ["Refunded."]}}))
    locked = write_assistant(root / "locked", intent_model)
    holder = sqlite3.connect(locked.parent / "assistant.db")
    holder.execute("CREATE TABLE hold (x)")
    holder.execute("BEGIN EXCLUSIVE")
    labelled = root / "labelled.jsonl"
    labelled.write_text("".join(json.dumps({"text": f"message {i}", "label": label}) + "\n"
                                for i, label in enumerate([*INTENTS, "oos", "oos"])))
    try:
        yield run_all({
            "validate-good": ["validate", str(good)],
            "validate-broken": ["validate", str(broken)],
            "locked": ["assistant", "serve", str(locked), "--port", "1"],
            "chat": ["assistant", "chat", str(good), "--session", "terminal-1"],
            "eval": ["assistant", "eval", str(good), "--data", str(labelled), "--output", str(root / "eval.json")],
        }, cwd=root, stdin={"chat": "where is my money\nthe second one\n/quit\n"}), root
    finally:
        holder.rollback()
        holder.close()


def test_validate_lists_every_problem(results):
    results, _ = results
    assert results["validate-good"].returncode == 0 and results["validate-good"].stdout.strip().endswith(": ok")
    broken = results["validate-broken"]
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    errors = broken.stderr
    assert "uses {amount}, which no slot fills" in errors
    assert "no answer for the model's intents talk_to_agent" in errors
    assert "refund in" in errors and "are not intents of" in errors
    assert "slot card is filled from CARD entities, but the config names no entities model" in errors
    assert "knowledge.files: " in errors and "matches no file" in errors


def test_locked_database_is_one_line_at_start(results):
    locked = results[0]["locked"]
    assert locked.returncode == 2
    assert locked.stderr.strip().startswith("error: database ") and "is locked" in locked.stderr
    assert "Traceback" not in locked.stderr and len(locked.stderr.strip().splitlines()) == 1


def test_terminal_chat_clarifies_then_answers(results):
    chat = results[0]["chat"]
    assert chat.returncode == 0, chat.stderr
    assert "session terminal-1" in chat.stdout
    assert "assistant: Do you mean " in chat.stdout and "clarify ·" in chat.stdout
    assert "answer ·" in chat.stdout and "picks" in chat.stdout


def test_eval_reports_decision_quality(results):
    results, root = results
    assert results["eval"].returncode == 0, results["eval"].stderr
    assert "Decisions on" in results["eval"].stdout and "wrong answers" in results["eval"].stdout
    report = json.loads((root / "eval.json").read_text())
    assert (report["messages"], report["in_scope"], report["out_of_scope"]) == (6, 4, 2)
    # clarify_margin 1: every message is a clarification; none is answered, right or wrong.
    assert report["actions"]["clarify"] == 1.0 and report["wrong_answers"] == 0.0
    assert report["answered_correctly"] == 0.0 and 0 <= report["resolved"] <= 1
