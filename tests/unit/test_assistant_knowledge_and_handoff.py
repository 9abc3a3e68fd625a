"""The knowledge base (files, passages, search with the builtin MiniLM and a re-ranker) and
ticket delivery to a webhook with backoff."""

from __future__ import annotations

import json
import socket

import pytest

from whet.assistant.handoff import ticket_delivery
from whet.io.webhook import post_json
from whet.assistant.knowledge import load_knowledge_base, read_passages
from whet.assistant.store import ConversationStore, NewTicket, Session
from whet.errors import DataError

FAQ = [{"question": "How do I reset my password?", "answer": "Use 'Forgot password' on the sign-in page."},
       {"question": "What are your opening hours?", "answer": "Branches open 9:00 to 17:00 on weekdays."}]
GUIDE = """# Cards

Intro line.

## Freezing a card

Open the app, choose the card and press Freeze. A frozen card can be unfrozen at any time.

```
# not a heading
```

## Fees

""" + " ".join(["word"] * 45)


@pytest.fixture
def kb_files(tmp_path):
    (tmp_path / "faq.jsonl").write_text("".join(json.dumps(pair) + "\n" for pair in FAQ))
    (tmp_path / "passages.jsonl").write_text(json.dumps({"text": "Wire transfers abroad take two working days.",
                                                         "title": "International transfers", "source": "kb-7"}) + "\n")
    (tmp_path / "guide.md").write_text(GUIDE)
    return tmp_path


def test_passages_from_every_kind_of_file(kb_files):
    passages = read_passages([str(kb_files / "*.jsonl"), str(kb_files / "guide.md")], max_words=30)
    faq = [p for p in passages if p.title == "How do I reset my password?"][0]
    assert faq.text.startswith("Use 'Forgot password'") and faq.indexed == "How do I reset my password?"
    assert faq.source.endswith("faq.jsonl:1")
    assert [p for p in passages if p.source == "kb-7"][0].indexed.startswith("International transfers. Wire")
    markdown = [p for p in passages if "guide.md" in p.source]
    assert [p.title for p in markdown] == ["Cards", "Freezing a card", "Fees", "Fees"]  # 45 words: 30 + 15
    assert markdown[1].source.endswith("guide.md#freezing-a-card") and "# not a heading" in markdown[1].text
    assert [len(p.text.split()) for p in markdown[2:]] == [30, 15]


@pytest.mark.parametrize("name, content, message", [
    ("bad.jsonl", '{"title": "no text"}\n', r"bad.jsonl:1: a passage needs a non-empty \"text\""),
    ("half.jsonl", '{"question": "Q?"}\n', r"half.jsonl:1: an FAQ pair needs a non-empty \"question\" and \"answer\""),
    ("notes.txt", "plain\n", r"notes.txt is neither JSON Lines \(.jsonl\) nor Markdown"),
])
def test_bad_knowledge_files(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=message):
        read_passages([str(tmp_path / name)])
    with pytest.raises(DataError, match="matches no file"):
        read_passages([str(tmp_path / "nothing-*.md")])


def test_search_finds_the_passage_and_a_reranker_reorders(kb_files, tmp_path):
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from whet.models.pretrained import resolve_model

    files = [str(kb_files / "faq.jsonl"), str(kb_files / "passages.jsonl"), str(kb_files / "guide.md")]
    kb = load_knowledge_base(files, embedding_model="builtin:minilm")
    best = kb.search("I forgot my password, how can I change it?", k=2)
    assert best[0].passage.title == "How do I reset my password?" and best[0].score > 0.6 > best[1].score
    assert kb.search("how long does a transfer to another country take")[0].passage.source == "kb-7"
    assert kb.search("recipe for apple pie")[0].score < 0.3

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("builtin:minilm"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(tmp_path / "reranker")
    tokenizer.save_pretrained(tmp_path / "reranker")
    reranked = load_knowledge_base(files, embedding_model="builtin:minilm", reranker=str(tmp_path / "reranker"),
                                   candidates=4)
    hits = reranked.search("opening hours", k=4)
    own = CrossEncoder(str(tmp_path / "reranker")).predict([("opening hours", h.passage.indexed) for h in hits])
    assert [h.score for h in hits] == pytest.approx(sorted(own.tolist(), reverse=True), abs=1e-5)


def test_retrieval_answers_an_out_of_scope_message(kb_files, tmp_path):
    from whet.assistant.assistant import Assistant, Models
    from whet.assistant.settings import AssistantConfig

    (tmp_path / "answers.yaml").write_text("greet:\n  replies: [Hi]\n")
    config = AssistantConfig.model_validate({"intents": {"model": "unused"}, "answers": str(tmp_path / "answers.yaml"),
                                             "conversations": {"database": str(tmp_path / "a.db")}})
    kb = load_knowledge_base([str(kb_files / "faq.jsonl")], embedding_model="builtin:minilm")

    def out_of_scope(texts):
        return [{"text": t, "label": "none", "score": 0.9, "probabilities": {"greet": 0.9}, "out_of_scope_score": 0.8}
                for t in texts]

    store = ConversationStore(config.conversations.database)
    try:
        reply = Assistant(config, Models(out_of_scope, None, kb, ["greet"]), store).reply(None, "when are you open?")
    finally:
        store.close()
    assert reply["action"] == "retrieve" and reply["reply"] == FAQ[1]["answer"]
    assert reply["sources"][0]["title"] == FAQ[1]["question"] and reply["sources"][0]["score"] >= 0.5
    assert "out of scope" in reply["why"][0] and "knowledge base passage at" in reply["why"][1]


def test_webhook_retries_with_backoff_then_gives_up_keeping_the_ticket(tmp_path):
    store = ConversationStore(str(tmp_path / "a.db"))
    session = Session("s", 100.0, 100.0, {})
    ticket = store.record_turn(session, "help", {"reply": "ok {ticket}", "action": "handoff"},
                               NewTicket("help", "no answer", None, [{"role": "customer", "text": "help"}], True))
    calls = []

    def refuse(url, payload, timeout):
        calls.append(payload)
        return "HTTP 503"

    delivery = ticket_delivery(store, "http://127.0.0.1:9/t", max_attempts=3, backoff_s=10, timeout_s=1, post=refuse)
    assert delivery.deliver_due(now=100.0) == 0
    row = store.ticket(ticket)
    assert (row["delivery"], row["attempts"], row["last_error"]) == ("pending", 1, "HTTP 503")
    first_wait = row["next_attempt_at"]
    assert delivery.deliver_due(now=first_wait - 1) == 0 and len(calls) == 1  # not due yet
    delivery.deliver_due(now=first_wait)
    second_wait = store.ticket(ticket)["next_attempt_at"]
    assert second_wait - first_wait == pytest.approx(20, abs=2)  # the wait doubled
    delivery.deliver_due(now=second_wait)
    row = store.ticket(ticket)
    assert (row["delivery"], row["attempts"], row["next_attempt_at"]) == ("failed", 3, None)
    assert calls[0]["transcript"] == [{"role": "customer", "text": "help"}] and calls[0]["ticket"] == ticket
    store.close()


def test_post_json_reports_an_unreachable_webhook():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = post_json(f"http://127.0.0.1:{port}/hook", {"ticket": 1}, timeout_s=2)
    assert error is not None and "refused" in error.lower()
