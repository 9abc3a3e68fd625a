"""What the assistant does with one reading of a message: answer, clarify, retrieve or hand off.

Plain functions over plain values, so the same rules run in the service, in ``whet assistant
eval`` and in the CLINC150 benchmark. The order, each step recorded in ``why``:

1. out of scope (the intent model's detector said ``none``) -> the knowledge base, else a person;
2. an intent whose answer is a person (``handoff: true`` in the answers) -> hand off;
3. the top intent is confident and clear of the runner-up -> answer;
4. the top two intents are close -> ask which one (Rasa's two-stage fallback);
5. otherwise not confident -> the knowledge base, else a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACTIONS = ("answer", "ask", "clarify", "retrieve", "handoff")


@dataclass
class Reading:
    """The intent model's reading of one message."""

    intent: str  # the top in-scope intent, also when the message is out of scope
    confidence: float
    candidates: list[tuple[str, float]]  # (intent, probability), most likely first
    out_of_scope: bool = False
    out_of_scope_score: float | None = None

    @property
    def margin(self) -> float:
        """Top probability minus the runner-up's (1.0 with a single intent)."""
        if len(self.candidates) < 2:
            return 1.0
        return self.candidates[0][1] - self.candidates[1][1]


@dataclass
class Decision:
    action: str  # one of ACTIONS; "fallback" until the knowledge base has been asked
    intent: str | None = None
    options: list[str] = field(default_factory=list)  # clarify: the intents offered
    why: list[str] = field(default_factory=list)


def reading_from_prediction(record: dict, *, none_label: str = "none", oos_label: str = "oos",
                            top: int = 3) -> Reading:
    """A ``Reading`` from one record of ``Predictor.predict`` (a single-label classifier).

    A model trained with an out-of-scope class (``oos_label``) predicts it as ``none_label`` too;
    that class is never offered as a candidate intent.
    """
    ranked = sorted(((label, p) for label, p in record["probabilities"].items() if label != oos_label),
                    key=lambda item: item[1], reverse=True)[:top]
    out_of_scope = record["label"] in (none_label, oos_label)
    intent = ranked[0][0] if out_of_scope else record["label"]
    return Reading(intent=intent, confidence=float(record["probabilities"][intent]),
                   candidates=[(label, float(p)) for label, p in ranked], out_of_scope=out_of_scope,
                   out_of_scope_score=record.get("out_of_scope_score"))


def intent_decision(reading: Reading, *, answer_threshold: float, clarify_margin: float,
                    handoff_intents: frozenset[str] = frozenset()) -> Decision:
    """The decision the intent model alone supports; ``fallback`` leaves it to ``fallback_decision``."""
    top = f"top intent {reading.intent} at {reading.confidence:.2f}"
    if reading.out_of_scope:
        return Decision("fallback", why=[f"out of scope (detector score {reading.out_of_scope_score}); {top}"])
    if reading.intent in handoff_intents and reading.confidence >= answer_threshold:
        return Decision("handoff", reading.intent, why=[f"{top}: an intent answered by a person"])
    if len(reading.candidates) > 1 and reading.margin < clarify_margin:
        options = [label for label, _ in reading.candidates[:2]]
        return Decision("clarify", options=options,
                        why=[f"{options[0]} and {options[1]} are {reading.margin:.2f} apart "
                             f"(clarify below {clarify_margin:g})"])
    if reading.confidence >= answer_threshold:
        return Decision("answer", reading.intent, why=[f"{top} (answer from {answer_threshold:g})"])
    return Decision("fallback", why=[f"{top} is below the answer threshold {answer_threshold:g}"])


def fallback_decision(decision: Decision, passage_score: float | None, *, retrieve_threshold: float) -> Decision:
    """Retrieve when the knowledge base holds a close enough passage, else hand off."""
    if passage_score is None:
        return Decision("handoff", why=[*decision.why, "no knowledge base to search"])
    if passage_score >= retrieve_threshold:
        return Decision("retrieve", why=[*decision.why, f"knowledge base passage at {passage_score:.2f} "
                                                         f"(retrieve from {retrieve_threshold:g})"])
    return Decision("handoff", why=[*decision.why, f"best knowledge base passage only {passage_score:.2f} "
                                                   f"(retrieve from {retrieve_threshold:g})"])
