"""Model cards: the ``README.md`` of every saved model directory, in the Hugging Face format.

The front matter (base model, library, pipeline tag, tags, and the metrics in ``model-index``
form) is built by huggingface_hub's ``ModelCardData``, so the directory uploads to the hub as
it is. The body says what the model is, the command and config that trained it, the data
files, the training figures and the evaluation table.

Everything comes from ``whet.json``: the run that trains a model records how in
``ModelInfo.training`` (``training_record``) when it finishes, so an export rebuilds its
source's card and only adds what the export is.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whet.io.atomic import write_text_atomic

if TYPE_CHECKING:
    from huggingface_hub import EvalResult, ModelCard

    from whet.models.model_info import ModelInfo

README = "README.md"

EXPORTS = {
    "merged": "the adapter merged into the base weights, a full model that predicts as the adapter did "
              "(within float rounding)",
    "int8": "int8 weights for CPU prediction: the body's linear layers quantized with one scale per output "
            "channel, the task head in float32, stored in `model.int8.safetensors` (whet loads it)",
    "onnx": "an ONNX graph, `model.onnx`, that onnxruntime runs (whet loads it)",
    "onnx-int8": "an ONNX graph, `model.onnx`, whose matrix products onnxruntime quantized to int8 weights "
                 "(one scale per output channel; activations quantized per batch), that onnxruntime runs "
                 "(whet loads it)",
}

FIGURES = {"train_examples": "examples trained on", "epochs": "epochs", "steps": "optimizer steps",
           "best_step": "step of the saved weights", "final_train_loss": "final training loss",
           "train_seconds": "training time (s)", "precision": "precision trained in (fp32, or bf16 autocast)"}

LISTED_LABELS = 50  # past this many, the card lists the first ones and counts the rest


def write_model_card(directory: Path, info: ModelInfo, *, name: str, export: str | None = None,
                     source: str | None = None) -> Path:
    """Write ``directory/README.md`` for the model files already written there.

    Args:
        directory: the model directory.
        info: its ``whet.json`` contents.
        name: the model's name on the card (``card_name`` of where the directory ends up).
        export: ``merged``, ``int8``, ``onnx`` or ``onnx-int8`` for a directory made from another model.
        source: the directory it was made from.
    """
    directory = Path(directory)
    card = model_card(info, name=name, library_name=library_of(directory, info), export=export, source=source)
    write_text_atomic(directory / README, str(card))
    return directory / README


def model_card(info: ModelInfo, *, name: str, library_name: str | None, export: str | None = None,
               source: str | None = None) -> ModelCard:
    """The card of a model: metadata from ``info`` in the hub's form, then the body."""
    from huggingface_hub import ModelCard, ModelCardData

    from whet.tasks import TASKS

    results = eval_results(info)
    tags = ["whet", info.method] + ([export] if export else [])
    data = ModelCardData(base_model=base_model_id(info.base_model), library_name=library_name,
                         pipeline_tag=TASKS.get(info.task).pipeline_tag, tags=tags,
                         model_name=name if results else None, eval_results=results or None)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{card_body(info, name=name, export=export, source=source)}")


def card_name(path: Path) -> str:
    """The model's name: the run directory's for ``runs/<name>/model`` and its ``merged/``."""
    path = Path(path).resolve()
    while path.name in ("model", "merged") and path.parent != path:
        path = path.parent
    return path.name


def library_of(directory: Path, info: ModelInfo) -> str | None:
    """The library that loads ``directory`` as it is. None for what only whet reads (bottleneck
    adapters, int8 weights) and for ONNX, a file format the hub recognises by itself."""
    if info.onnx or info.quantization:
        return None
    if (directory / "adapter_config.json").is_file():
        return "peft"
    if info.adapter:
        return None
    if (directory / "modules.json").is_file():  # a few-shot run's sentence encoder
        return "sentence-transformers"
    return "transformers"


def base_model_id(name: str) -> str | None:
    """The hub id of the pretrained model behind a config's ``model``, through a whet model
    directory (a continual plan may start from one) to the model it was trained from. None for
    another local directory: the hub refuses a card whose base_model is not a hub id."""
    from whet.models.pretrained import hub_id
    from whet.models.model_info import METADATA

    metadata = Path(name).expanduser() / METADATA
    if metadata.is_file():
        return base_model_id(json.loads(metadata.read_text(encoding="utf-8"))["base_model"])
    return hub_id(name)


def eval_results(info: ModelInfo) -> list[EvalResult]:
    """Every number of the dev and test metrics in ``info``, as the hub's evaluation results."""
    from huggingface_hub import EvalResult

    from whet.tasks import TASKS

    # A task without a hub pipeline (multiple choice) is named by its own name, as transformers' Trainer cards do.
    task_type = TASKS.get(info.task).pipeline_tag or info.task
    results = []
    for split, metrics in split_metrics(info).items():
        dataset = split_file(info, split)
        results += [EvalResult(task_type=task_type, dataset_type=dataset, dataset_name=dataset, dataset_split=split,
                               metric_type=metric, metric_value=plain(value))
                    for metric, value in metrics.items() if is_number(value)]
    return results


def split_metrics(info: ModelInfo) -> dict[str, dict]:
    return {split: info.metrics[split] for split in ("dev", "test") if isinstance(info.metrics.get(split), dict)}


def split_file(info: ModelInfo, split: str) -> str:
    """The name of the data file a split's metrics were measured on."""
    rows = {row["split"]: row for row in (info.training or {}).get("data", [])}
    if split in rows:
        return row_file(rows[split])
    if info.data.get(split):
        return Path(info.data[split]).name
    if split == "dev" and info.data.get("train"):
        return held_out_name(info.data["train"], info.data.get("dev_split", 0.1))
    return split


def row_file(row: dict) -> str:
    """A data row's file name, with the share held out as dev where dev was taken from it."""
    return held_out_name(row["file"], row["held_out"]) if "held_out" in row else row["file"]


def held_out_name(train: str, share: float) -> str:
    return f"{Path(train).name} ({share:.0%} held out as dev)"


# ---------------------------------------------------------------------------------------
# The record a finished run keeps in whet.json


def training_record(*, command: str, config: dict, data: list[dict], figures: dict,
                    parameters: tuple[int, int] | None = None) -> dict:
    """How a model was trained, for ``ModelInfo.training``.

    Args:
        command: the command that trains it again from ``config`` (e.g. ``whet train config.yaml``).
        config: the run's resolved config (the contents of its ``config.yaml``).
        data: the data files, from ``data_files``.
        figures: the training figures, from ``training_figures``.
        parameters: (trainable, total) parameter counts, when known.
    """
    record = {"command": command, "config": config, "data": data, "figures": figures}
    if parameters is not None:
        record["parameters"] = {"trainable": parameters[0], "total": parameters[1]}
    return record


def data_files(paths: Any, data: Any, *, dev_split: float = 0.1) -> list[dict]:
    """Rows of the card's data table: for each split that ``data`` holds (``train``/``dev``/``test``
    lists of examples, None for a split without), the file ``paths`` names for it (a run's data
    settings, a plan's experience) with its lines and bytes. A dev set held out of train (no dev
    file) names train and the share."""
    rows = []
    for split in ("train", "dev", "test"):
        examples = getattr(data, split)
        if examples is None:
            continue
        path = getattr(paths, split)
        if path:
            rows.append({"split": split, "file": Path(path).name, "examples": len(examples),
                         **file_size(Path(path))})
        elif split == "dev" and examples and paths.train:
            rows.append({"split": split, "file": Path(paths.train).name, "held_out": dev_split,
                         "examples": len(examples)})
    return rows


def file_size(path: Path) -> dict[str, int]:
    """{"lines", "bytes"} of a file (a last line without a newline counts); {} when it is gone."""
    if not path.is_file():
        return {}
    lines, last = 0, b"\n"
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return {"lines": lines + (last != b"\n"), "bytes": path.stat().st_size}


def training_figures(state: Any, *, seconds: float | None = None, precision: str | None = None) -> dict:
    """Figures of a finished training loop (a ``whet.training.loop.LoopState``): epochs, optimizer steps,
    best step, the last logged training loss, and the training time and the precision (as resolved
    from ``training.precision``, which the config keeps as written) when known."""
    losses = [entry["train_loss"] for entry in state.history if "train_loss" in entry]
    # A run stopped by max_steps ends mid-epoch: the logged epoch holds the fraction.
    epochs = max([state.epoch, *(entry["epoch"] for entry in state.history if "epoch" in entry)])
    figures = {"epochs": round(epochs, 2), "steps": state.step, "best_step": state.best_step,
               "final_train_loss": round(losses[-1], 4) if losses else None,
               "train_seconds": round(seconds, 1) if seconds is not None else None, "precision": precision}
    return {key: value for key, value in figures.items() if value is not None}


# ---------------------------------------------------------------------------------------
# The body


def card_body(info: ModelInfo, *, name: str, export: str | None = None, source: str | None = None) -> str:
    record = info.training or {}
    lines = [f"# {name}", "", f"A {info.task} model fine-tuned with whet {info.whet_version}.", ""]
    if export:
        origin = f"an export of `{source}`" if source else "an export"
        lines += [f"This directory is {origin}: {EXPORTS[export]}. The evaluation below is the source model's.", ""]
    lines += facts(info, record)
    lines += ["", "## Training", ""]
    if record:
        lines += training_section(record)
    else:
        lines.append("How this model was trained is not recorded in its `whet.json`.")
    lines += ["", "## Evaluation", "", *evaluation_section(info)]
    return "\n".join(lines) + "\n"


def facts(info: ModelInfo, record: dict) -> list[str]:
    """The list of what the model is: base model, method, trainable parameters, labels."""
    from whet.methods import METHODS

    hub = base_model_id(info.base_model)
    lines = [f"- Base model: [{hub}](https://huggingface.co/{hub})" if hub else f"- Base model: `{info.base_model}`"]
    method = f"- Method: `{info.method}`"
    if info.method in METHODS:
        method += f", which trains {METHODS.get(info.method).summary}"
    lines.append(method)
    parameters = record.get("parameters")
    if parameters and parameters["total"]:
        share = 100 * parameters["trainable"] / parameters["total"]
        lines.append(f"- Trainable parameters: {parameters['trainable']:,} of {parameters['total']:,} ({share:.2f}%)")
    if info.labels:
        listed = ", ".join(f"`{label}`" for label in info.labels[:LISTED_LABELS])
        more = len(info.labels) - LISTED_LABELS
        lines.append(f"- Labels ({len(info.labels)}): {listed}" + (f" and {more} more" if more > 0 else ""))
    return lines


def training_section(record: dict) -> list[str]:
    import yaml

    config_file = record["command"].split()[-1]
    lines = ["Trained with", "", "```bash", record["command"], "```", "",
             f"where `{config_file}` holds the run's resolved config:", "",
             "```yaml", yaml.safe_dump(record["config"], sort_keys=False).rstrip(), "```"]
    if record.get("data"):
        lines += ["", "### Data", "", "| split | file | examples | lines | bytes |", "|---|---|---:|---:|---:|"]
        lines += [f"| {row['split']} | {row_file(row)} | {row['examples']} | {row.get('lines', '')} "
                  f"| {row.get('bytes', '')} |" for row in record["data"]]
    figures = record.get("figures") or {}
    if figures:
        lines += ["", "### Figures", "", "| figure | value |", "|---|---:|"]
        lines += [f"| {FIGURES.get(key, key)} | {value} |" for key, value in figures.items()]  # rounded already
    return lines


def evaluation_section(info: ModelInfo) -> list[str]:
    splits = split_metrics(info)
    if not splits:
        return ["No evaluation is recorded."]
    best = info.metrics.get("best_step")
    lines = ["Scores of the saved weights" + (f" (from step {best})" if best is not None else "") + ":", ""]
    names = list(dict.fromkeys(name for metrics in splits.values() for name in metrics))
    lines += ["| metric | " + " | ".join(f"{split}: {split_file(info, split)}" for split in splits) + " |",
              "|---|" + "---:|" * len(splits)]
    lines += [f"| {name} | " + " | ".join(number(metrics.get(name)) for metrics in splits.values()) + " |"
              for name in names]
    return lines


def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def plain(value: Any) -> int | float:
    """A Python number for a numpy one, which YAML cannot write."""
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def number(value: Any) -> str:
    """Counts as integers, other numbers with 4 decimals, anything else as it is."""
    if not is_number(value):
        return "" if value is None else str(value)
    return str(value) if isinstance(value, numbers.Integral) else f"{float(value):.4f}"
