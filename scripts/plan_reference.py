"""Write docs/continual-plan.md from the pydantic plan models, so the reference never drifts.

    python scripts/plan_reference.py          # rewrite the file
    python scripts/plan_reference.py --check  # exit 1 if the file is out of date
"""

from __future__ import annotations

from pathlib import Path

from config_reference import _section, write_or_check

from whet.continual.plan import ContinualPlan, ExperienceConfig

OUT = Path(__file__).resolve().parent.parent / "docs" / "continual-plan.md"


def reference() -> str:
    lines = ["# Continual plan reference", "",
             "Generated from `whet/continual/plan.py` by `scripts/plan_reference.py`; every key of a",
             "`whet continual` plan, its default and what it does (see [continual.md](continual.md) for the",
             "concepts). `data`, `method`, `training` and `eval` are the sections of a run config, described in",
             "[configuration.md](configuration.md). Unknown keys are errors. Override any key on the command line",
             "with `--set section.key=value`.", "", "## Top level", ""]
    nested: list = []
    _section(ContinualPlan, "", lines, nested)
    shared = {"data", "method", "training", "eval"}
    for number, line in enumerate(lines):  # the run-config sections are described in configuration.md
        key = line.split("`")[1] if line.startswith("| `") else None
        if key in shared:
            lines[number] = line.replace("| see below |", f"| see [configuration.md](configuration.md#{key}) |")
    lines += ["", "## `experiences[]` (each item)", ""]
    _section(ExperienceConfig, "", lines, [])
    while nested:
        prefix, model = nested.pop(0)
        if prefix.split(".")[0] in shared:
            continue
        lines += ["", f"## `{prefix}`", ""]
        _section(model, f"{prefix}.", lines, nested)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    write_or_check({OUT: reference()})
