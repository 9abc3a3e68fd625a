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
    clarifications offering the right intent (one more turn away from the answer) and messages
    of an intent that a person answers handed off as that intent;
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
    routed_right = sum(d.action == "handoff" and d.intent == g for g, d in in_scope)
    wrong = sum(d.action == "answer" and d.intent != g for g, d in zip(gold, decisions))

    def share(count: int, total: int) -> float | None:
        return round(count / total, 4) if total else None

    def mix(chosen: Sequence[Decision]) -> dict[str, float | None]:
        counts = Counter(d.action for d in chosen)
        return {action: share(counts[action], len(chosen)) for action in ACTIONS if action in counts or action != "ask"}

    return {
        "messages": len(gold), "in_scope": len(in_scope), "out_of_scope": len(oos),
        "answered_correctly": share(answered_right, len(in_scope)),
        "resolved": share(answered_right + clarified_right + routed_right, len(in_scope)),
        "wrong_answers": share(wrong, len(gold)),
        "oos_answered": share(sum(d.action == "answer" for d in oos), len(oos)),
        "automation": share(sum(d.action != "handoff" for d in decisions), len(decisions)),
        "actions": mix(decisions), "actions_in_scope": mix([d for _, d in in_scope]), "actions_out_of_scope": mix(oos),
    }


def replay(assistant: object, path: str, *, text_column: str = "text", label_column: str = "label",
           oos_label: str | None = None) -> dict:
    """Decide each labelled message of a file (JSON lines or CSV) on its own, as a first message
    of a conversation, and score the decisions; nothing is written to the database."""
    from whet.data.prepare import read_split
    from whet.data.settings import DataConfig
    from whet.tasks import TASKS

    oos_label = oos_label or assistant.models.oos_label
    data = DataConfig(text_column=text_column, label_column=label_column)
    examples, _ = read_split(TASKS.get("sequence-classification"), path, data, "--data")
    decisions = assistant.decide_many([example.text for example in examples])
    gold = [example.labels[0] for example in examples]
    report = decision_quality(gold, decisions, oos_label=oos_label)
    report["dataset"] = str(path)
    report["thresholds"] = assistant.config.thresholds.model_dump()
    wrong = [(example.text, g, d) for example, g, d in zip(examples, gold, decisions)
             if d.action == "answer" and d.intent != g]
    report["wrong_answer_examples"] = [{"text": text, "label": g, "answered": d.intent, "why": d.why}
                                       for text, g, d in wrong[:20]]
    return report


def print_quality(report: dict) -> None:
    """The decision-quality report as tables on the terminal."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    summary = Table(title=f"Decisions on {report['dataset']} ({report['messages']} messages: "
                          f"{report['in_scope']} in scope, {report['out_of_scope']} out of scope)")
    summary.add_column("figure")
    summary.add_column("share", justify="right")
    for key in ("answered_correctly", "resolved", "wrong_answers", "oos_answered", "automation"):
        value = report[key]
        summary.add_row(key.replace("_", " "), "-" if value is None else f"{value:.4f}")
    console.print(summary)
    actions = Table(title="Actions")
    actions.add_column("messages")
    names = list(report["actions"])
    for name in names:
        actions.add_column(name, justify="right")
    for label, key in (("all", "actions"), ("in scope", "actions_in_scope"), ("out of scope", "actions_out_of_scope")):
        actions.add_row(label, *("-" if report[key].get(n) is None else f"{report[key][n]:.4f}" for n in names))
    console.print(actions)
