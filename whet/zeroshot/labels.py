"""The labels file of ``whet zeroshot``: the labels, how each is put into words, and the prompts.

```yaml
labels:
  card_arrival:
    description: The customer asks when their new card will arrive.
    examples: ["my card hasn't come yet", "when does the new card get here?"]
  lost_or_stolen_card: {}      # the name alone ("lost or stolen card")
hypothesis: "This text is about {label}."
```

Templates are filled per label with ``{label}`` (the name, underscores and hyphens read as
spaces) and ``{description}``; a template that uses ``{description}`` needs every label to
have one. Unknown keys are errors that name the key and the closest valid one. Label names
are kept as written (``yes:``, ``null:`` and ``1.0:`` are the labels "yes", "null" and "1.0";
see ``whet.io.yaml_loader``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from whet.config import read_yaml
from whet.data.label_words import readable
from whet.errors import ConfigError, problems_message
from whet.registry import closest
from whet.io.yaml_loader import not_text

# Top-level keys shown when they look like labels written outside ``labels:``.
_SHOWN_KEYS = 5


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabelSpec(_Strict):
    description: str | None = Field(None, description="What the label means, in a sentence.")
    examples: list[str] = Field(default_factory=list, description="Example texts (embedding mode adds them to the label's vector).")
    templates: list[str] | None = Field(None, description="Embedding mode: texts that stand for this label (overrides the file's templates).")
    verbalizers: list[str] | None = Field(
        None, description="Causal and mlm modes: words that name the label in a prompt; default: the label's name."
    )


class LabelsFile(_Strict):
    labels: dict[str, LabelSpec] = Field(..., description="Label name -> its description, examples, verbalizers.")
    templates: list[str] | None = Field(
        None, description="Embedding mode: texts that stand for each label; default: its name, and its description if it has one."
    )
    hypothesis: str = Field("This text is about {label}.", description="NLI mode: the hypothesis tested against each text.")
    prompt: str = Field("{text}\nTopic:", description="Causal mode: the prompt; each verbalizer is scored as its continuation.")
    pattern: str = Field("{text} Topic: {mask}.", description="MLM mode: the pattern; {mask} becomes the mask token(s).")
    content_free: list[str] = Field(
        ["N/A", "", "[MASK]"], description="Causal and mlm modes: texts without content whose label scores calibrate the others."
    )
    calibrate: bool = Field(True, description="Causal and mlm modes: apply contextual calibration (Zhao et al., 2021).")
    temperature: float = Field(0.05, gt=0, description="Embedding mode: softmax temperature over cosine similarities.")
    threshold: float | None = Field(None, description="Texts whose score is below this get none_label; null: no threshold.")
    none_label: str = Field("none", description="The label of texts below the threshold (and of out-of-scope gold labels).")
    # Where the file came from, for error messages about its labels.
    _source: str = PrivateAttr("the labels file")

    @field_validator("labels", mode="before")
    @classmethod
    def _names_or_mapping(cls, value: object) -> object:
        # A plain list of names is the shortest labels file; a label with nothing under it is {}.
        # Keys are read as written, but list items are values: `null` or `1.10` there is no longer
        # the text written, so it is refused with the fix rather than renamed "None" or "1.1".
        if isinstance(value, list):
            for index, name in enumerate(value):
                if not_text(name):
                    raise ValueError(f"item {index + 1}: {not_text(name)}, or write the labels as keys")
            return {str(name): {} for name in value}
        if isinstance(value, dict):
            return {str(name): spec if spec is not None else {} for name, spec in value.items()}
        return value

    @field_validator("labels")
    @classmethod
    def _at_least_two(cls, value: dict[str, LabelSpec]) -> dict[str, LabelSpec]:
        if len(value) < 2:
            raise ValueError(f"{len(value)} label(s); classification needs at least 2")
        return value


def _describe(error: dict) -> str:
    location = [str(part) for part in error["loc"]]
    where = ".".join(location)
    if error["type"] == "extra_forbidden":
        model = LabelSpec if len(location) == 3 and location[0] == "labels" else LabelsFile
        guess = closest(location[-1], list(model.model_fields))
        hint = f"did you mean '{guess}'?" if guess else f"valid keys: {', '.join(model.model_fields)}"
        return f"{where}: unknown key; {hint}"
    if error["type"] == "missing":
        return f"{where}: required field is missing"
    if error["type"] == "string_type" and not_text(error.get("input")):
        return f"{where}: {not_text(error['input'])}"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


def labels_at_top_level(raw: dict) -> list[str]:
    """The top-level keys of a file without ``labels:`` that are not settings: labels put one level too high."""
    unknown = [key for key in raw if key not in LabelsFile.model_fields]
    # One unknown key is more likely a misspelt setting (`lables:`), which validation names.
    return unknown if "labels" not in raw and len(unknown) > 1 else []


def load_labels(path: str | Path) -> LabelsFile:
    """Read and validate a labels file; every problem is listed in one ``ConfigError``."""
    path = Path(path)
    raw = read_yaml(path)
    if names := labels_at_top_level(raw):
        shown = ", ".join(names[:_SHOWN_KEYS]) + (f", ... ({len(names)} in all)" if len(names) > _SHOWN_KEYS else "")
        raise ConfigError(f"{path}: the top-level keys look like labels ({shown}); put them under a 'labels:' "
                          f"key, indented by two spaces")
    try:
        labels = LabelsFile.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(problems_message(str(path), [_describe(e) for e in err.errors()])) from None
    if labels.none_label in labels.labels:
        raise ConfigError(f"{path}: none_label '{labels.none_label}' is also a label; rename one of them")
    labels._source = str(path)
    return labels


def fill(template: str, name: str, spec: LabelSpec, labels: LabelsFile, setting: str) -> str:
    """``template`` with this label's ``{label}`` and ``{description}``."""
    if "{description}" in template and not spec.description:
        raise ConfigError(f"{labels._source}: label '{name}' has no description, but {setting} uses {{description}}; "
                          f"add 'description:' under labels.{name} or leave {{description}} out of {setting}")
    try:
        return template.format(label=readable(name), description=spec.description or "")
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(f"{labels._source}: {setting} {template!r}: unknown placeholder {err}; "
                          f"use {{label}} and {{description}}") from None
