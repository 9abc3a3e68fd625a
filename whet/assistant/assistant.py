"""The assistant: one message in, one reply out, every step of the decision in the reply.

``Assistant.reply`` reads the session, settles what the last turn left open (a clarification,
a slot asked for), reads the message with the intent model, decides (``whet.assistant.decision``),
composes the reply, and commits the turn (and any ticket) before returning it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from whet.assistant.answers import Answers, fill, read_answers, template_fields
from whet.assistant.decision import (Decision, Reading, fallback_decision, intent_decision,
                                     reading_from_prediction)
from whet.assistant.dialogue import chosen_option, declines, slot_values
from whet.assistant.settings import AssistantConfig
from whet.assistant.store import ConversationStore, NewTicket, Session
from whet.errors import WhetError

log = logging.getLogger("whet.assistant")


class MessageError(WhetError):
    """A message the assistant cannot take (empty, or over ``conversations.max_message_chars``)."""

    def __init__(self, message: str, too_long: bool = False) -> None:
        super().__init__(message)
        self.too_long = too_long


@dataclass
class Models:
    """What the assistant predicts with: ``predict_intents`` and ``predict_entities`` take texts and
    return ``Predictor.predict`` records; ``knowledge`` searches (``KnowledgeBase`` or None)."""

    predict_intents: Callable[[list[str]], list[dict]]
    predict_entities: Callable[[list[str]], list[dict]] | None
    knowledge: Any
    labels: list[str]
    none_label: str = "none"
    oos_label: str = "oos"


def load_models(config: AssistantConfig) -> Models:
    """The intent model (with its out-of-scope detector), the NER model and the knowledge base."""
    from whet.assistant.knowledge import load_knowledge_base
    from whet.predict import Predictor

    intents = Predictor.from_directory(config.intents.model, precision=config.intents.precision)
    if intents.task.name != "sequence-classification" or intents.data.multi_label:
        raise WhetError(f"intents.model: {config.intents.model} is a {intents.task.name} model; give a single-label "
                        f"sequence classifier (whet train with task: sequence-classification)")
    entities = None
    if config.entities is not None:
        entities = Predictor.from_directory(config.entities.model, precision=config.entities.precision)
    knowledge = None
    if config.knowledge is not None:
        k = config.knowledge
        knowledge = load_knowledge_base(k.files, embedding_model=k.embedding_model, reranker=k.reranker,
                                        candidates=k.candidates, max_passage_words=k.max_passage_words)
    detector = intents.detector
    if detector is None:
        log.warning("intents.model has no out-of-scope detector: only low confidence sends a message to the knowledge "
                    "base or a person (fit one with whet out-of-scope)")
    return Models(predict_intents=intents.predict, predict_entities=entities.predict if entities else None,
                  knowledge=knowledge, labels=[l for l in intents.labels if not detector or l != detector.oos_label],
                  none_label=detector.none_label if detector else "none",
                  oos_label=detector.oos_label if detector else "oos")


class Assistant:
    """Replies to messages; safe to call from several threads (one session's messages take turns)."""

    def __init__(self, config: AssistantConfig, models: Models, store: ConversationStore,
                 answers: Answers | None = None, on_ticket: Callable[[int], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.models = models
        self.store = store
        self.answers = answers or read_answers(config.answers)
        self.on_ticket = on_ticket
        self.clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # --- one message ---

    def reply(self, session_id: str | None, text: str) -> dict:
        """The reply to ``text`` in session ``session_id`` (a new session when None or unknown)."""
        text = text.strip() if isinstance(text, str) else ""
        limit = self.config.conversations.max_message_chars
        if not text:
            raise MessageError("the message is empty; send some text")
        if len(text) > limit:
            raise MessageError(f"the message has {len(text)} characters, more than "
                               f"conversations.max_message_chars ({limit}); send a shorter one", too_long=True)
        session_id = session_id or uuid.uuid4().hex
        with self._lock(session_id):
            now = self.clock()
            session, started = self._session(session_id, now)
            reply, ticket = self._respond(session, text)
            reply = {"session_id": session_id, **reply, "new_session": started}
            ticket_id = self.store.record_turn(session, text, reply, ticket)
        if ticket_id is not None and self.on_ticket is not None:
            self.on_ticket(ticket_id)
        return reply

    def decide(self, text: str) -> tuple[Decision, Reading, list[Any]]:
        """The decision for a message on its own (no conversation): what ``whet assistant eval`` scores."""
        reading = self._read([text])[0]
        return self._decide(reading, text)

    def decide_many(self, texts: list[str]) -> list[Decision]:
        """``decide`` for many messages, the intent model run over all of them at once."""
        return [self._decide(reading, text)[0] for reading, text in zip(self._read(texts), texts)]

    def session(self, session_id: str) -> dict | None:
        """A session's state, the context kept for it, its transcript and tickets; None when unknown."""
        found = self.store.session(session_id)
        if found is None:
            return None
        expired = self.clock() - found.last_at > self.config.conversations.expiry_minutes * 60
        return {"session_id": found.id, "started_at": found.started_at, "last_at": found.last_at, "expired": expired,
                "pending": None if expired else found.state.get("pending"),
                "context": [] if expired else self.store.context(found.id, found.started_at,
                                                                  self.config.conversations.context_turns),
                "transcript": self.store.transcript(found.id),
                "tickets": [{"ticket": t["id"], "delivery": t["delivery"], "resolved": t["resolved_at"] is not None}
                            for t in self.store.tickets(session_id=found.id)]}

    # --- the steps ---

    def _lock(self, session_id: str) -> threading.Lock:
        with self._locks_guard:
            if len(self._locks) > 10_000:  # forget idle sessions' locks
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            return self._locks.setdefault(session_id, threading.Lock())

    def _session(self, session_id: str, now: float) -> tuple[Session, bool]:
        found = self.store.session(session_id)
        if found is None or now - found.last_at > self.config.conversations.expiry_minutes * 60:
            # Unknown or expired: a conversation starts afresh (an expired one's transcript is kept).
            return Session(session_id, now, now, {}), True
        found.last_at = now
        return found, False

    def _read(self, texts: list[str]) -> list[Reading]:
        m = self.models
        return [reading_from_prediction(record, none_label=m.none_label, oos_label=m.oos_label)
                for record in m.predict_intents(texts)]

    def _decide(self, reading: Reading, text: str) -> tuple[Decision, Reading, list[Any]]:
        t = self.config.thresholds
        decision = intent_decision(reading, answer_threshold=t.answer, clarify_margin=t.clarify_margin,
                                   handoff_intents=self.answers.handoff_intents)
        hits: list[Any] = []
        if decision.action == "fallback":
            if self.models.knowledge is not None:
                hits = self.models.knowledge.search(text, k=1)
            decision = fallback_decision(decision, hits[0].score if hits else None, retrieve_threshold=t.retrieve)
        return decision, reading, hits

    def _respond(self, session: Session, text: str) -> tuple[dict, NewTicket | None]:
        state = session.state
        pending = state.pop("pending", None)
        reading = self._read([text])[0]
        why: list[str] = []
        if pending and pending["kind"] == "slot":
            entities = self._entities(text, pending["intent"])
            values = {**pending["values"], **slot_values(self.answers.intents[pending["intent"]].slots, text, entities)}
            # A value asked for is the reply itself when nothing in it matched.
            values.setdefault(pending["slot"], text)
            why.append(f"{pending['slot']} = {values[pending['slot']]!r}, asked for in the last turn")
            return self._answer(session, pending["intent"], values, reading, pending["message"], why)
        if pending and pending["kind"] == "clarify":
            titles = {option: self.answers.title(option) for option in pending["options"]}
            picked = chosen_option(text, pending["options"], titles)
            if declines(text) and picked is None:
                decision = Decision("fallback", why=["the reply declines the intents offered"])
                return self._not_answered(session, decision, reading, text, question=pending["message"])
            if (picked is None and not reading.out_of_scope and reading.intent in pending["options"]
                    and reading.confidence >= self.config.thresholds.answer):
                picked = reading.intent  # the reply says it again in other words
            if picked is not None:
                why.append(f"the reply picks {picked} of the intents offered ({', '.join(pending['options'])})")
                values = slot_values(self.answers.intents[picked].slots, pending["message"],
                                     self._entities(pending["message"], picked))
                return self._answer(session, picked, values, reading, pending["message"], why)
        decision, reading, hits = self._decide(reading, text)
        if decision.action == "answer":
            values = slot_values(self.answers.intents[decision.intent].slots, text,
                                 self._entities(text, decision.intent))
            return self._answer(session, decision.intent, values, reading, text, decision.why)
        if decision.action == "clarify":
            return self._clarify(session, decision, reading, text)
        if decision.action == "retrieve":
            state["failures"] = 0
            hit = hits[0]
            return self._reply("retrieve", hit.passage.text, reading, decision.why, sources=[
                {"source": hit.passage.source, "title": hit.passage.title, "score": round(hit.score, 4)}]), None
        if decision.intent is not None:  # an intent a person answers
            return self._handoff(session, decision.why, reading, text, intent=decision.intent)
        return self._not_answered(session, decision, reading, text)

    def _entities(self, text: str, intent: str) -> list[dict]:
        slots = self.answers.intents[intent].slots
        if self.models.predict_entities is None or not any(s.entity for s in slots.values()):
            return []
        return self.models.predict_entities([text])[0]["entities"]

    def _answer(self, session: Session, intent: str, values: dict[str, str], reading: Reading, message: str,
                why: list[str]) -> tuple[dict, NewTicket | None]:
        answer = self.answers.intents[intent]
        if answer.handoff:
            return self._handoff(session, [*why, f"{intent} is answered by a person"], reading, message, intent=intent)
        ready = [r for r in answer.replies if all(values.get(name) for name in template_fields(r))]
        if not ready:
            missing = next(name for r in answer.replies for name in template_fields(r) if not values.get(name))
            slot = answer.slots[missing]
            if slot.ask:
                session.state["pending"] = {"kind": "slot", "intent": intent, "slot": missing, "values": values,
                                            "message": message}
                return self._reply("ask", slot.ask, reading, [*why, f"{intent} needs {missing}: asked for"],
                                   intent=intent), None
            return self._handoff(session, [*why, f"{intent} needs {missing}, which the message does not give"],
                                 reading, message, intent=intent)
        session.state["failures"] = 0
        # Several templates: vary by session and turn, so a customer does not hear the same line twice running.
        choice = int(hashlib.sha1(f"{session.id}:{session.last_at}".encode()).hexdigest(), 16) % len(ready)
        text = fill(ready[choice], values)
        if answer.follow_up:
            text = f"{text} {answer.follow_up}"
        return self._reply("answer", text, reading, why, intent=intent, slots=values), None

    def _clarify(self, session: Session, decision: Decision, reading: Reading,
                 text: str) -> tuple[dict, NewTicket | None]:
        if self._failed(session):
            return self._handoff(session, [*decision.why, "the conversation has not reached an answer"], reading, text)
        first, second = (self.answers.title(option) for option in decision.options)
        session.state["pending"] = {"kind": "clarify", "options": decision.options, "message": text}
        return self._reply("clarify", f"Do you mean {first}, or {second}?", reading, decision.why,
                           options=[{"intent": o, "title": self.answers.title(o)} for o in decision.options]), None

    def _not_answered(self, session: Session, decision: Decision, reading: Reading, text: str,
                      question: str | None = None) -> tuple[dict, NewTicket | None]:
        """Nothing answers the message: ask to rephrase, and after ``handoff.after_failures`` such
        turns in a row, hand off (Rasa's two-stage fallback). ``question``: the message the
        conversation is about, when ``text`` only answers a clarification."""
        if self._failed(session):
            return self._handoff(session, [*decision.why, "the conversation has not reached an answer"], reading, text,
                                 question=question)
        return self._reply("clarify", "Sorry, I did not get that. Could you say it in other words?", reading,
                           [*decision.why, "asked to rephrase"]), None

    def _failed(self, session: Session) -> bool:
        """Counts a turn without an answer; True once ``handoff.after_failures`` are reached."""
        failures = session.state.get("failures", 0) + 1
        session.state["failures"] = failures
        return failures >= self.config.handoff.after_failures

    def _handoff(self, session: Session, why: list[str], reading: Reading, message: str,
                 intent: str | None = None, question: str | None = None) -> tuple[dict, NewTicket | None]:
        """A ticket for a person; its ``message`` (what a resolution labels) is ``question`` or ``message``."""
        session.state.clear()
        turns = self.store.context(session.id, session.started_at, self.config.conversations.context_turns)
        transcript = [{"role": t["role"], "text": t["text"], "at": t["at"]} for t in turns]
        transcript.append({"role": "customer", "text": message, "at": session.last_at})
        ticket = NewTicket(message=question or message, reason="; ".join(why), intent=intent, transcript=transcript,
                           deliver=self.config.handoff.webhook is not None)
        return self._reply("handoff", self.config.handoff.message, reading, why, intent=intent), ticket

    def _reply(self, action: str, text: str, reading: Reading, why: list[str], *, intent: str | None = None,
               **extra: Any) -> dict:
        return {"reply": text, "action": action, "intent": intent, "confidence": round(reading.confidence, 4),
                "candidates": [{"intent": label, "title": self.answers.title(label), "probability": round(p, 4)}
                               for label, p in reading.candidates],
                "out_of_scope": reading.out_of_scope, "out_of_scope_score": reading.out_of_scope_score,
                "sources": extra.pop("sources", []), "why": why, **extra}
