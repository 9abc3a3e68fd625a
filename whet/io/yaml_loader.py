"""How whet reads YAML: names stay the text that was written.

PyYAML's safe loader follows YAML 1.1, where ``yes``, ``no``, ``on``, ``off``, ``y`` and ``n``
are booleans: a labels file with the intents ``yes`` and ``no`` came back as the labels
``True`` and ``False``. Every YAML file and ``--set`` value whet reads goes through
``load_yaml``, which differs from ``yaml.safe_load`` in two ways:

- Only ``true`` and ``false`` (also ``True``/``TRUE``, ``False``/``FALSE``) are booleans, as in
  YAML 1.2's core schema; ``yes``, ``no``, ``on``, ``off``, ``y``, ``n`` are text.
- Mapping keys are always the text as written: a label ``null:``, ``1.0:`` or ``on:`` is named
  ``"null"``, ``"1.0"``, ``"on"``. Every key whet reads is a name (a setting, a label, a model).

Values keep the rest of the safe loader's types (``null``, numbers, dates), since the loader
cannot know which values are names. Where a name was expected and a value came back as one
of those, ``not_text`` says so and asks for quotes, rather than turning ``1.10`` into ``1.1``
or ``null`` into ``None`` behind the user's back.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import yaml

# YAML 1.2 core schema booleans.
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_BOOL_TAG = "tag:yaml.org,2002:bool"


class NamesAsWrittenLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 booleans and mapping keys kept as written."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
        self.flatten_mapping(node)  # merge keys (<<: *defaults) as the safe loader does
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a name, not a list or a mapping", key_node.start_mark)
            mapping[key_node.value] = self.construct_object(value_node, deep=deep)
        return mapping


NamesAsWrittenLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
NamesAsWrittenLoader.add_implicit_resolver(_BOOL_TAG, _BOOL, list("tTfF"))


def load_yaml(text: str) -> Any:
    """Parse YAML text as whet reads every file: keys as written, only true/false are booleans.

    >>> load_yaml("labels: {yes: {}, null: {}, 1.0: {}}\\nflag: on\\nbf16: true")
    {'labels': {'yes': {}, 'null': {}, '1.0': {}}, 'flag': 'on', 'bf16': True}
    """
    return yaml.load(text, Loader=NamesAsWrittenLoader)  # noqa: S506 (a safe loader)


def not_text(value: object) -> str | None:
    """Why a YAML value is not a name, and the fix; None when it is text (or a list or mapping).

    ``not_text(None)`` -> ``"null was read as null, not text; put it in quotes ("null") ..."``.
    """
    if value is None:
        kind, written = "null", "null"
    elif isinstance(value, bool):
        kind, written = "a boolean", str(value).lower()
    elif isinstance(value, (int, float)):
        kind, written = "a number", str(value)
    elif isinstance(value, (datetime.date, datetime.datetime)):
        kind, written = "a date", str(value)
    else:
        return None
    return f"{written} was read as {kind}, not text; put it in quotes (\"{written}\") to keep it as written"
