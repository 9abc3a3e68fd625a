"""Write docs/configuration.md (runs), docs/serve-configuration.md (whet serve),
docs/assistant-configuration.md (whet assistant) and docs/recommend-configuration.md (whet
recommend) from the pydantic config models, so the references never drift.

    python scripts/config_reference.py          # rewrite the file
    python scripts/config_reference.py --check  # exit 1 if the file is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import get_args

from pydantic import BaseModel

from whet.assistant.settings import AssistantConfig
from whet.config import RunConfig
from whet.recommend.settings import RecommendConfig
from whet.serve.settings import ServeConfig

OUT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
SERVE_OUT = OUT.with_name("serve-configuration.md")
ASSISTANT_OUT = OUT.with_name("assistant-configuration.md")
RECOMMEND_OUT = OUT.with_name("recommend-configuration.md")
RUN_INTRO = ["# Configuration reference", "",
             "Generated from `whet/config.py` and the methods' settings (`whet/methods/`) by",
             "`scripts/config_reference.py`; every key, its default and what it does. Unknown keys are",
             "errors, and so are the settings of a method other than `method.name`. Override any key on",
             "the command line with `--set section.key=value` (values are read as YAML).", "",
             "Names are kept as written: keys always (a label `yes:`, `null:` or `1.0:` is named `yes`,",
             "`null`, `1.0`), and only `true` and `false` (also `True`, `TRUE`, `False`, `FALSE`) are",
             "booleans, so `yes`, `no`, `on`, `off` are text; a setting that is a boolean still accepts",
             "them. Where text is expected, quote a value that YAML reads as a number or `null` (`\"1.0\"`).",
             "Several problems are listed one per line, the first ten and a count of the rest."]
SERVE_INTRO = ["# `whet serve` configuration reference", "",
               "Generated from `whet/serve/settings.py` by `scripts/config_reference.py`; every key of the",
               "file given with `whet serve --config`, its default and what it does. Unknown keys are errors.",
               "Override any key with `--set section.key=value`; the common ones also have options (see",
               "[serving.md](serving.md))."]

ASSISTANT_INTRO = ["# `whet assistant` configuration reference", "",
                   "Generated from `whet/assistant/settings.py` by `scripts/config_reference.py`; every key of an",
                   "assistant config, its default and what it does. Unknown keys are errors; paths are relative to",
                   "the file. Override any key with `--set section.key=value`. The answers file's format is in",
                   "[assistant.md](assistant.md)."]

RECOMMEND_INTRO = ["# `whet recommend` configuration reference", "",
                   "Generated from `whet/recommend/settings.py` by `scripts/config_reference.py`; every key of a",
                   "recommender config (`whet recommend train CONFIG`), its default and what it does. Unknown keys",
                   "are errors; data paths are relative to the file. Override any key with `--set section.key=value`.",
                   "The data formats, training and recommending are in [recommend.md](recommend.md);",
                   "`configs/recommend/example.yaml` is a complete config on a small shipped catalog."]


def _default(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
        return "see below" if isinstance(value, BaseModel) else f"`{value}`"
    value = field.default
    # A line break would end the table row; it is written as YAML writes it in quotes.
    return "`null`" if value is None else "`{}`".format(str(value).replace("\n", "\\n"))


def _section(model: type[BaseModel], prefix: str, lines: list[str], nested: list) -> None:
    lines += ["| key | default | description |", "| --- | --- | --- |"]
    for name, field in model.model_fields.items():
        annotation = field.annotation
        optional = [arg for arg in get_args(annotation) if arg is not type(None)]
        if type(None) in get_args(annotation) and len(optional) == 1:  # an optional section (X | None)
            annotation = optional[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested.append((f"{prefix}{name}", annotation))
        lines.append(f"| `{prefix}{name}` | {_default(field)} | {field.description} |")


def reference(root: type[BaseModel] = RunConfig, intro: list[str] = RUN_INTRO) -> str:
    lines = [*intro, "", "## Top level", ""]
    nested: list = []
    _section(root, "", lines, nested)
    while nested:
        prefix, model = nested.pop(0)
        lines += ["", f"## `{prefix}`", ""]
        _section(model, f"{prefix}.", lines, nested)
    return "\n".join(lines) + "\n"


def serve_reference() -> str:
    return reference(ServeConfig, SERVE_INTRO)


def assistant_reference() -> str:
    return reference(AssistantConfig, ASSISTANT_INTRO)


def recommend_reference() -> str:
    return reference(RecommendConfig, RECOMMEND_INTRO)


def write_or_check(outputs: dict[Path, str]) -> None:
    """The scripts' command line: rewrite the files, or with --check exit 1 when one is out of date."""
    if "--check" in sys.argv:
        sys.exit(0 if all(path.read_text() == text for path, text in outputs.items()) else 1)
    for path, text in outputs.items():
        path.write_text(text)
        print(f"wrote {path}")


if __name__ == "__main__":
    write_or_check({OUT: reference(), SERVE_OUT: serve_reference(), ASSISTANT_OUT: assistant_reference(),
                    RECOMMEND_OUT: recommend_reference()})
