"""Decision quality: how well the assistant's actions served labelled messages.

A message labelled with an intent is served by answering that intent, or by a clarification that
offers it; one labelled out of scope by the knowledge base or a person, never by an answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from whet.assistant.decision import ACTIONS, Decision


def decision_quality(gold: Sequence[str], decisions: Sequence[Decision], *, oos_label: str = "oos") -> dict:
    """Shares of each outcome over labelled messages (``gold``: an intent, or ``oos_label``).

    ``answered_correctly``: in-scope messages answered with their intent; ``resolved``: those plus
    clarifications offering the right intent (one more turn away from the answer);
    ``wrong_answers``: answers with another intent, out-of-scope messages included, the
    assistant's worst mistake; ``oos_answered``: out-of-scope messages answered anyway;
    ``automation``: messages answered, clarified or retrieved, without a person.
    """
    if len(gold) != len(decisions):
        raise ValueError(f"{len(gold)} labels for {len(decisions)} decisions")
    in_scope = [(g, d) for g, d in zip(gold, decisions) if g != oos_label]
    oos = [d for g, d in zip(gold, decisions) if g == oos_label]
    answered_right = sum(d.action == "answer" and d.intent == g for g, d in in_scope)
    clarified_right = sum(d.action == "clarify" and g in d.options for g, d in in_scope)
    wrong = sum(d.action == "answer" and d.intent != g for g, d in zip(gold, decisions))

    def share(count: int, total: int) -> float | None:
        return round(count / total, 4) if total else None

    def mix(chosen: Sequence[Decision]) -> dict[str, float | None]:
        counts = Counter(d.action for d in chosen)
        return {action: share(counts[action], len(chosen)) for action in ACTIONS if action in counts or action != "ask"}

    return {
        "messages": len(gold), "in_scope": len(in_scope), "out_of_scope": len(oos),
        "answered_correctly": share(answered_right, len(in_scope)),
        "resolved": share(answered_right + clarified_right, len(in_scope)),
        "wrong_answers": share(wrong, len(gold)),
        "oos_answered": share(sum(d.action == "answer" for d in oos), len(oos)),
        "automation": share(sum(d.action != "handoff" for d in decisions), len(decisions)),
        "actions": mix(decisions), "actions_in_scope": mix([d for _, d in in_scope]), "actions_out_of_scope": mix(oos),
    }
