"""Write docs/configuration.md from the pydantic config models, so the reference never drifts.

    python scripts/config_reference.py          # rewrite the file
    python scripts/config_reference.py --check  # exit 1 if the file is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel

from whet.config import RunConfig

OUT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def _default(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return "see below"
    value = field.default
    return "`null`" if value is None else f"`{value}`"


def _section(model: type[BaseModel], prefix: str, lines: list[str], nested: list) -> None:
    lines += ["| key | default | description |", "| --- | --- | --- |"]
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested.append((f"{prefix}{name}", annotation))
        lines.append(f"| `{prefix}{name}` | {_default(field)} | {field.description} |")


def reference() -> str:
    lines = ["# Configuration reference", "",
             "Generated from `whet/config.py` by `scripts/config_reference.py`; every key, its default and",
             "what it does. Unknown keys are errors. Override any key on the command line with",
             "`--set section.key=value` (values are read as YAML).", "", "## Top level", ""]
    nested: list = []
    _section(RunConfig, "", lines, nested)
    while nested:
        prefix, model = nested.pop(0)
        lines += ["", f"## `{prefix}`", ""]
        _section(model, f"{prefix}.", lines, nested)
    return "\n".join(lines) + "\n"


def write_or_check(out: Path, text: str) -> None:
    """The scripts' command line: rewrite ``out``, or with --check exit 1 when it is out of date."""
    if "--check" in sys.argv:
        sys.exit(0 if out.read_text() == text else 1)
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    write_or_check(OUT, reference())
