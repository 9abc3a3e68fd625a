"""Answers: for each intent, reply templates, an optional follow-up question and slots.

A YAML file maps intents to their answers::

    transfer_money:
      title: send money                    # how a clarification names the intent
      replies: ["I can send {amount} to {recipient} today."]
      follow_up: Anything else I can help with?
      slots:
        amount: {entity: MONEY, ask: How much would you like to send?}
        recipient: {ask: Who should receive it?}
    talk_to_agent:
      handoff: true                        # a person answers this intent

A JSON Lines file holds the same, one intent per line with an ``intent`` key (a ``reply`` string
may stand for ``replies``). A slot is filled from the message's entities of its ``entity`` type
(the NER model's), by its ``pattern`` (a regular expression; its first group, or the whole
match), or asked for with ``ask`` and taken from the next message.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from whet.data.text_files import json_records, read_text_file
from whet.errors import DataError, problems_message
from whet.io.yaml_loader import load_yaml


class Slot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: str | None = Field(None, description="Entity type (of the NER model) whose text fills the slot.")
    pattern: str | None = Field(None, description="Regular expression finding the value in a message.")
    ask: str | None = Field(None, description="Question asked when no message has given the value yet.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression ({err})") from None
        return pattern

    @model_validator(mode="after")
    def _has_source(self) -> Slot:
        if self.entity is None and self.pattern is None and self.ask is None:
            raise ValueError("the slot has no source: give entity (an NER type), pattern, and/or ask (a question)")
        return self


class IntentAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, description="How the intent is named to customers; default: its name in words.")
    replies: list[str] = Field(default_factory=list, description="Reply templates; {slot} fields are filled.")
    follow_up: str | None = Field(None, description="Question added after the reply.")
    slots: dict[str, Slot] = Field(default_factory=dict)
    handoff: bool = Field(False, description="A person answers this intent: a ticket is opened.")

    @model_validator(mode="after")
    def _replies_and_fields(self) -> IntentAnswer:
        if not self.replies and not self.handoff:
            raise ValueError("give at least one reply template (replies), or handoff: true")
        for reply in self.replies:
            try:
                names = template_fields(reply)
            except ValueError as err:
                raise ValueError(f"reply {reply!r} is not a valid template ({err}); write {{{{ for a literal brace")
            missing = [name for name in names if name not in self.slots]
            if missing:
                raise ValueError(f"reply {reply!r} uses {', '.join('{' + n + '}' for n in missing)}, which no slot "
                                 f"fills; add slots: {missing[0]}: {{entity: ..., ask: ...}}")
        return self


@dataclass
class Answers:
    intents: dict[str, IntentAnswer]
    path: str = ""
    handoff_intents: frozenset[str] = field(default_factory=frozenset)
    invalid: frozenset[str] = field(default_factory=frozenset)  # intents in the file whose answers have problems

    def title(self, intent: str) -> str:
        answer = self.intents.get(intent)
        return answer.title if answer is not None and answer.title else intent.replace("_", " ")


def template_fields(template: str) -> list[str]:
    """The ``{name}`` fields of a reply template, in order."""
    names = []
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None:
            if not name.isidentifier():
                raise ValueError(f"field {{{name}}} is not a slot name")
            names.append(name)
    return names


def fill(template: str, values: dict[str, str]) -> str:
    return template.format_map(values)


def read_answers(path: str | Path) -> Answers:
    """Read and check an answers file; one ``DataError`` lists every problem, each with its place."""
    answers, problems = parse_answers(path)
    if problems:
        raise DataError(problems_message(str(path), problems))
    return answers


def parse_answers(path: str | Path) -> tuple[Answers, list[str]]:
    """The answers that are valid, and a problem (with its place) for each that is not.

    Raises ``DataError`` only when the file cannot be read at all.
    """
    path = Path(path)
    text = read_text_file(path)
    raw: dict[str, tuple[str, dict]] = {}  # intent -> (where, record)
    if path.suffix.lower() in (".jsonl", ".json"):
        for where, record in json_records(text, path):
            intent = record.pop("intent", None)
            if not isinstance(intent, str) or not intent:
                raise DataError(f"{where}: each line needs an \"intent\" name")
            if "reply" in record:
                record.setdefault("replies", []).append(record.pop("reply"))
            if intent in raw:
                raise DataError(f"{where}: intent {intent!r} again (first at {raw[intent][0]}); one line per intent")
            raw[intent] = (where, record)
    else:
        try:
            loaded = load_yaml(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            raise DataError(f"{path}:{mark.line + 1 if mark else 1}: invalid YAML "
                            f"({getattr(err, 'problem', None) or err}); check indentation and quoting") from None
        if not isinstance(loaded, dict) or not loaded:
            raise DataError(f"{path}: expected a mapping of intent names to their answers")
        raw = {str(intent): (f"{path}: {intent}", record or {}) for intent, record in loaded.items()}
    intents, problems, invalid = {}, [], set()
    for intent, (where, record) in raw.items():
        try:
            intents[intent] = IntentAnswer.model_validate(record)
        except ValidationError as err:
            invalid.add(intent)
            for error in err.errors():
                place = ".".join(str(part) for part in error["loc"])
                problems.append(f"{where}{': ' + place if place else ''}: {error['msg'].removeprefix('Value error, ')}")
    handoff = frozenset(name for name, answer in intents.items() if answer.handoff)
    return Answers(intents, str(path), handoff, frozenset(invalid)), problems
