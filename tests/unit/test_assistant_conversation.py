"""The assistant's conversation logic over a real SQLite file, with scripted intent readings."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from whet.assistant.assistant import Assistant, MessageError, Models
from whet.assistant.settings import AssistantConfig
from whet.assistant.store import ConversationStore

ANSWERS = """
check_balance:
  title: check your balance
  replies: ["Your balance is in the app under Accounts."]
  follow_up: Anything else?
transfer_money:
  title: send money
  replies: ["Sending {amount} to {recipient} now."]
  slots:
    amount: {pattern: '(\\$\\s?\\d[\\d,.]*)', ask: "How much should I send?"}
    recipient: {entity: PER, ask: "Who should receive it?"}
talk_to_agent:
  handoff: true
"""
LABELS = ["check_balance", "transfer_money", "talk_to_agent"]

# message -> probabilities (check_balance, transfer_money, talk_to_agent); "none" marks out of scope
READINGS = {
    "what is my balance": (0.9, 0.05, 0.05),
    "send money": (0.05, 0.9, 0.05),
    "send $50 to Ann": (0.05, 0.9, 0.05),
    "money stuff": (0.45, 0.42, 0.13),
    "a person please": (0.1, 0.1, 0.8),
    "what's the weather": "none",
}


def fake_intents(texts: list[str]) -> list[dict]:
    records = []
    for text in texts:
        reading = READINGS.get(text, (0.34, 0.33, 0.33))
        if reading == "none":
            records.append({"text": text, "label": "none", "in_scope_label": "check_balance", "score": 0.4,
                            "out_of_scope_score": 0.9,
                            "probabilities": dict(zip(LABELS, (0.4, 0.3, 0.3)))})
            continue
        probabilities = dict(zip(LABELS, reading))
        best = max(probabilities, key=probabilities.get)
        records.append({"text": text, "label": best, "score": probabilities[best], "probabilities": probabilities})
    return records


def fake_entities(texts: list[str]) -> list[dict]:
    return [{"text": t, "entities": [{"type": "PER", "text": w} for w in t.split() if w in ("Ann", "Bob")]}
            for t in texts]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make(tmp_path):
    (tmp_path / "answers.yaml").write_text(ANSWERS, encoding="utf-8")
    stores = []

    def build(**settings) -> tuple[Assistant, Clock]:
        conversations = {"database": str(tmp_path / "a.db"), **settings.pop("conversations", {})}
        config = AssistantConfig.model_validate({"intents": {"model": "unused"}, "answers": str(tmp_path / "answers.yaml"),
                                                 "conversations": conversations, **settings})
        store = ConversationStore(config.conversations.database)
        stores.append(store)
        clock = Clock()
        models = Models(fake_intents, fake_entities, None, LABELS)
        return Assistant(config, models, store, clock=clock), clock

    yield build
    for store in stores:
        store.close()


def test_answer_shows_each_step_and_the_follow_up(make):
    assistant, _ = make()
    reply = assistant.reply("s1", "what is my balance")
    assert reply["action"] == "answer" and reply["intent"] == "check_balance"
    assert reply["reply"] == "Your balance is in the app under Accounts. Anything else?"
    assert reply["confidence"] == 0.9 and reply["candidates"][0] == {"intent": "check_balance",
                                                                      "title": "check your balance", "probability": 0.9}
    assert "check_balance" in reply["why"][0] and reply["new_session"] is True


def test_slots_from_the_message_and_asked_for(make):
    assistant, _ = make()
    assert assistant.reply("s", "send $50 to Ann")["reply"] == "Sending $50 to Ann now."
    first = assistant.reply("t", "send money")
    assert (first["action"], first["reply"]) == ("ask", "How much should I send?")
    second = assistant.reply("t", "$20")
    assert (second["action"], second["reply"]) == ("ask", "Who should receive it?")
    third = assistant.reply("t", "my sister Bob")
    assert third["action"] == "answer" and third["reply"] == "Sending $20 to Bob now."
    assert third["slots"] == {"amount": "$20", "recipient": "Bob"}


@pytest.mark.parametrize("answer", ["the second one", "2", "send money please", "Send money"])
def test_clarification_is_resolved_by_the_next_reply(make, answer):
    assistant, _ = make()
    asked = assistant.reply("c", "money stuff")
    assert asked["action"] == "clarify" and asked["reply"] == "Do you mean check your balance, or send money?"
    assert [o["intent"] for o in asked["options"]] == ["check_balance", "transfer_money"]
    resolved = assistant.reply("c", answer)
    assert resolved["intent"] == "transfer_money" and resolved["action"] == "ask"  # the amount is asked for next
    assert "picks transfer_money" in resolved["why"][0]


def test_declining_twice_hands_off_with_the_transcript(make):
    assistant, _ = make()
    assistant.reply("d", "money stuff")
    handed = assistant.reply("d", "neither")
    assert handed["action"] == "handoff" and handed["ticket"] == 1
    assert handed["reply"].endswith("(ticket 1).")
    ticket = assistant.store.ticket(1)
    assert [t["text"] for t in ticket["transcript"]] == ["money stuff", "Do you mean check your balance, or send money?",
                                                         "neither"]
    assert ticket["delivery"] == "none"  # no webhook configured: the table is the hand-off


def test_out_of_scope_asks_to_rephrase_then_hands_off(make):
    assistant, _ = make()
    first = assistant.reply("o", "what's the weather")
    assert first["action"] == "clarify" and first["out_of_scope"] is True and not first.get("options")
    assert any("out of scope" in step for step in first["why"])
    assert assistant.reply("o", "what's the weather")["action"] == "handoff"


def test_handoff_intent_goes_to_a_person_at_once(make):
    assistant, _ = make()
    reply = assistant.reply("h", "a person please")
    assert reply["action"] == "handoff" and reply["intent"] == "talk_to_agent"
    assert assistant.store.ticket(reply["ticket"])["intent"] == "talk_to_agent"


def test_sessions_survive_a_restart_and_expire(make):
    assistant, clock = make()
    assistant.reply("r", "send money")  # asks for the amount
    restarted, _ = make()
    restarted.clock = clock
    clock.now += 60
    assert restarted.reply("r", "$5")["reply"] == "Who should receive it?"
    clock.now += 31 * 60  # past conversations.expiry_minutes
    view = restarted.session("r")
    assert view["expired"] is True and view["context"] == [] and len(view["transcript"]) == 4
    fresh = restarted.reply("r", "Bob")  # the pending slot is gone with the expired conversation
    assert fresh["new_session"] is True and fresh["action"] != "answer"


def test_context_keeps_the_last_turns(make):
    assistant, _ = make(conversations={"context_turns": 3})
    for _ in range(3):
        assistant.reply("k", "what is my balance")
    view = assistant.session("k")
    assert len(view["transcript"]) == 6 and len(view["context"]) == 3
    assert [t["role"] for t in view["context"]] == ["assistant", "customer", "assistant"]
    assert assistant.session("unknown") is None


def test_bad_messages(make):
    assistant, _ = make(conversations={"max_message_chars": 10})
    with pytest.raises(MessageError, match="more than conversations.max_message_chars") as err:
        assistant.reply("b", "x" * 11)
    assert err.value.too_long
    with pytest.raises(MessageError, match="empty"):
        assistant.reply("b", "   ")
    assert assistant.store.session("b") is None  # nothing half-written


def test_concurrent_sessions_each_keep_their_own_turns(make):
    assistant, _ = make()
    errors = []

    def talk(name: str) -> None:
        try:
            for _ in range(5):
                assistant.reply(name, "what is my balance")
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=talk, args=(f"p{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(len(assistant.store.transcript(f"p{i}")) == 10 for i in range(6))


def test_a_locked_or_read_only_database_is_one_line_at_start(tmp_path):
    from whet.errors import ConfigError

    path = tmp_path / "locked.db"
    ConversationStore(str(path)).close()
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ConfigError, match=r"locked.db: database is locked; another process holds it"):
            ConversationStore(str(path), busy_timeout_s=0.2)
    finally:
        holder.rollback()
        holder.close()
    # Opened read-only (as a file without write permission opens for a user other than root).
    with pytest.raises(ConfigError, match="readonly database; the file or its folder is not writable"):
        ConversationStore(f"sqlite:///file:{path}?mode=ro&uri=true")
