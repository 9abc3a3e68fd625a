"""The ``whet`` command line. Each command parses arguments and calls a plain function.

User errors (``WhetError``) become a message on stderr (one line, or a heading and one
problem per line) and exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from whet.errors import ConfigError, Interrupted, WhetError
from whet.recommend.cli import recommend_app

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Adapt pretrained transformer models to your task, measure them, ship them.")
state = {"debug": False}

Sets = Annotated[Optional[list[str]], typer.Option("--set", help="Override a config value, e.g. --set training.lr=3e-5.")]
AdapterName = Annotated[Optional[str], typer.Option("--adapter", help="Adapter name, when MODEL is an adapter store.")]
Precision = Annotated[str, typer.Option(help="auto (bf16 autocast where the device is fast at it: a GPU with bf16, "
                                             "a CPU with AMX), fp32 or bf16. int8 and ONNX models run as exported.")]


def _is_main_process() -> bool:
    """False in the extra processes of a distributed run (torchrun / accelerate launch set RANK)."""
    return int(os.environ.get("RANK", "0")) == 0


def _setup_logging(debug: bool) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    handler = RichHandler(console=Console(stderr=True), show_path=False, show_time=False, markup=False)
    level = logging.DEBUG if debug else logging.INFO if _is_main_process() else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub", "matplotlib", "PIL", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False) -> None:
    state["debug"] = debug
    _setup_logging(debug)


@app.command()
def train(config: Annotated[Path, typer.Argument(help="Run config (YAML).")],
          set_: Sets = None,
          resume: Annotated[bool, typer.Option("--resume", help="Continue the run from its last checkpoint.")] = False,
          merge: Annotated[bool, typer.Option("--merge", help="Also save the adapter merged into the base weights.")] = False,
          output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Run directory (output.dir).")] = None,
          processes: Annotated[int, typer.Option("--processes", min=1, help="Train data-parallel in N local processes.")] = 1,
          ) -> None:
    """Fine-tune a model as the config says; write the model, reports and checkpoints."""
    from whet.config import load_config
    from whet.launch import is_distributed_child, launch

    overrides = list(set_ or []) + ([f"output.dir={output}"] if output else []) + (["output.merge=true"] if merge else [])
    run_config = load_config(config, overrides)
    if processes > 1 and not is_distributed_child():
        from whet.methods import METHODS

        # Refused here, once: in the launched processes each would print it, under torchrun's report.
        if METHODS.get(run_config.method.name).recipe:  # SetFit's recipe trains in one process
            raise ConfigError(f"method {run_config.method.name} trains in one process; run it without --processes")
        arguments = ["--debug"] * state["debug"] + ["train", str(config), *(f"--set={o}" for o in overrides)]
        arguments += ["--resume"] * resume + ["--merge"] * merge
        raise typer.Exit(launch(arguments, processes))
    # Imported after the config is valid: whet.train pulls in torch, which a config error never needs.
    from whet.train import train as run_training

    results = run_training(run_config, resume=resume, merge=merge or None)
    if _is_main_process():
        typer.echo(f"model saved to {Path(run_config.output.dir) / 'model'}", err=True)
        typer.echo(json.dumps(results))


@app.command()
def tune(config: Annotated[Path, typer.Argument(help="Run config (YAML) with a tune section.")],
         set_: Sets = None,
         trials: Annotated[Optional[int], typer.Option("--trials", min=1, help="Trials in the study in all, those of an earlier run in the output directory included (default: tune.trials).")] = None,
         keep_all_models: Annotated[bool, typer.Option("--keep-all-models", help="Keep every trial's model, not only the best one's.")] = False,
         output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Directory of the study and its trials (output.dir).")] = None,
         ) -> None:
    """Search the settings the config's tune section names (Optuna TPE, pruning); write the best config."""
    from rich.console import Console

    from whet.config import load_config

    overrides = list(set_ or []) + ([f"output.dir={output}"] if output else [])
    run_config = load_config(config, overrides)
    # Imported after the config is valid: a search pulls in optuna and, through training, torch.
    from whet.tune import render_summary, tune as run_search

    result = run_search(run_config, trials=trials, keep_models="all" if keep_all_models else None, source=str(config))
    Console(stderr=True).print(render_summary(result))
    typer.echo(f"trials table, plots and study written to {run_config.output.dir}", err=True)
    if result.best is None:
        typer.echo("no trial completed (all were pruned or failed); see trials.md", err=True)
        raise typer.Exit(1)
    typer.echo(f"best config written to {result.best_config}", err=True)
    typer.echo(json.dumps({"best_trial": result.best.number, result.metric: result.best.value,
                           "params": result.best.params, "best_config": str(result.best_config)}))


@app.command("eval")
def evaluate(model: Annotated[Path, typer.Argument(help="A model directory saved by whet train.")],
             data: Annotated[Path, typer.Argument(help="Labelled data file.")],
             output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Directory for the report files.")] = None,
             mode: Annotated[str, typer.Option(help="NER entity matching: default or strict.")] = "default",
             format: Annotated[Optional[str], typer.Option(help="Data format (default: from the extension).")] = None,
             encoding: Annotated[Optional[str], typer.Option(help="Text encoding of the data file.")] = None,
             adapter: AdapterName = None,
             generate: Annotated[bool, typer.Option("--generate", help="Causal LM: also reply to each prompt and score the replies (exact match, ROUGE-L).")] = False,
             max_new_tokens: Annotated[int, typer.Option(min=1, help="Causal LM with --generate: most tokens per reply.")] = 128,
             precision: Precision = "auto",
             ) -> None:
    """Evaluate a saved model on a labelled file: print the report, write JSON, Markdown and plots."""
    from rich.console import Console

    from whet import load
    from whet.metrics.report import render_report, write_report

    if mode not in ("default", "strict"):
        raise WhetError(f"--mode {mode!r}: choose default or strict")
    from whet.models.precision import check_precision  # pulls in torch, which a wrong --mode never needs

    check_precision(precision, "--precision")
    predictor = load(str(model), adapter, precision=precision)
    report = predictor.evaluate(str(data), mode=mode, format=format, encoding=encoding, generate=generate,
                                max_new_tokens=max_new_tokens)
    out_dir = output or model.parent / f"eval-{data.stem}"
    written = write_report(report, out_dir)
    Console().print(render_report(report))
    typer.echo(f"report written to {written[0].parent}", err=True)


@app.command("out-of-scope")
def out_of_scope(model: Annotated[Path, typer.Argument(help="A sequence classifier saved by whet train.")],
                 dev: Annotated[Path, typer.Argument(help="Labelled file the threshold is chosen on (out-of-scope texts labelled --label).")],
                 train: Annotated[Optional[Path], typer.Option(help="The training file: knn and mahalanobis keep its texts' features.")] = None,
                 scorer: Annotated[str, typer.Option(help="msp, energy, knn or mahalanobis.")] = "msp",
                 label: Annotated[str, typer.Option(help="Label of the out-of-scope texts in the files.")] = "oos",
                 none_label: Annotated[str, typer.Option(help="Label predicted for a text found out of scope.")] = "none",
                 target_recall: Annotated[float, typer.Option(min=0.0, max=1.0, help="Without out-of-scope texts in DEV: share of in-scope texts kept in scope.")] = 0.95,
                 k: Annotated[int, typer.Option(min=1, help="knn: the neighbour whose distance is the score.")] = 1,
                 batch_size: Annotated[int, typer.Option(help="Most texts per batch.")] = 64,
                 adapter: AdapterName = None,
                 precision: Precision = "auto",
                 ) -> None:
    """Fit out-of-scope detection on a saved classifier; predict, eval and serve then answer the none label."""
    from whet.models.out_of_scope import SCORERS

    if scorer not in SCORERS:
        raise WhetError(f"--scorer {scorer!r}: choose one of {', '.join(SCORERS)}")
    if target_recall <= 0:
        raise WhetError("--target-recall must be above 0")
    from whet.data.prepare import read_split
    from whet.models.out_of_scope import save_detector
    from whet.models.saved_model import model_directory
    from whet.predict import Predictor

    predictor = Predictor.from_directory(model, adapter, precision=precision)
    dev_examples, _ = read_split(predictor.task, str(dev), predictor.data, "the dev file")
    train_examples = read_split(predictor.task, str(train), predictor.data, "--train")[0] if train else None
    detector = predictor.fit_out_of_scope(dev_examples, train=train_examples, scorer=scorer, oos_label=label,
                                          none_label=none_label, target_recall=target_recall, k=k,
                                          batch_size=batch_size)
    save_detector(model_directory(model, adapter), detector)
    typer.echo(json.dumps({"threshold": detector.threshold, "rule": detector.fitted["rule"], **detector.fitted["dev"]}))


@app.command()
def predict(model: Annotated[Path, typer.Argument(help="A model directory saved by whet train.")],
            texts: Annotated[Optional[list[str]], typer.Argument(help="Texts to predict on (question answering, multiple choice: JSON objects).")] = None,
            input: Annotated[Optional[Path], typer.Option("--input", "-i", help="JSONL (objects or strings) or text file, one input per line.")] = None,
            output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write JSONL here instead of stdout.")] = None,
            batch_size: Annotated[int, typer.Option(help="Most inputs per batch.")] = 64,
            adapter: AdapterName = None,
            precision: Precision = "auto",
            output_format: Annotated[str, typer.Option("--output-format", help="whet: whet's records; cluener: CLUENER2020 lines {\"text\", \"label\"} (NER models).")] = "whet",
            ) -> None:
    """Predict for texts (or JSON records) given as arguments or in a file; JSON lines out."""
    if not texts and input is None:
        raise WhetError("nothing to predict: give texts as arguments or a file with --input")
    if texts and input is not None:
        raise WhetError("give texts as arguments or --input, not both")
    if output_format not in ("whet", "cluener"):
        raise WhetError(f"--output-format {output_format!r}: choose whet or cluener")
    # Imported after the argument checks: whet.predict pulls in torch.
    from whet.models.precision import check_precision
    from whet.predict import Predictor, read_prediction_inputs

    check_precision(precision, "--precision")

    predictor = Predictor.from_directory(model, adapter, precision=precision)
    if output_format == "cluener" and predictor.task.name != "token-classification":
        raise WhetError(f"--output-format cluener writes entities; {model} is a {predictor.task.name} model")
    if texts:
        results = predictor.predict(texts, batch_size=batch_size)
    else:
        total = None
        if input.is_file():  # counted first so the progress bar can show an ETA
            with open(input, encoding="utf-8") as handle:
                total = sum(1 for line in handle if line.strip())
        results = predictor.predict_stream(read_prediction_inputs(input), batch_size=batch_size)
    if output_format == "cluener":
        from whet.data.cluener import cluener_record

        results = map(cluener_record, results)
    if texts:
        for record in results:
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    _write_predictions(results, output, total)


def _write_predictions(results, output: Optional[Path], total: Optional[int]) -> None:
    import os
    import tempfile

    from whet.io.progress import prediction_progress

    if output is None:
        for record in results:
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed at the end: an interrupted run leaves no half file.
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle, prediction_progress(total) as progress:
            bar = progress.add_task("predict", total=total)
            for record in results:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                progress.advance(bar)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    typer.echo(f"predictions written to {output}", err=True)


@app.command("generate")
def generate_text(
        model: Annotated[str, typer.Argument(help="A causal-lm model saved by whet train, or any causal LM: a directory or hub id.")],
        prompts: Annotated[Optional[list[str]], typer.Argument(help="Prompts to continue.")] = None,
        input: Annotated[Optional[Path], typer.Option("--input", "-i", help="JSONL (strings, or objects with 'prompt' or 'messages') or a text file with one prompt per line.")] = None,
        output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write JSONL (each input with 'generated') here instead of stdout.")] = None,
        max_new_tokens: Annotated[int, typer.Option(help="Most tokens generated per prompt.")] = 128,
        sample: Annotated[bool, typer.Option("--sample", help="Sample instead of greedy decoding.")] = False,
        temperature: Annotated[Optional[float], typer.Option(help="Sampling temperature, at least 1e-6 (with --sample).")] = None,
        top_p: Annotated[Optional[float], typer.Option(help="Nucleus sampling: keep the smallest token set with this probability (with --sample).")] = None,
        top_k: Annotated[Optional[int], typer.Option(help="Sample among the k likeliest tokens; 0 for all (with --sample).")] = None,
        seed: Annotated[Optional[int], typer.Option(help="Seed that makes sampling repeatable (a 64-bit integer).")] = None,
        stop: Annotated[Optional[list[str]], typer.Option("--stop", help="End the reply before this string, of at most 256 characters (repeatable).")] = None,
        chat: Annotated[bool, typer.Option("--chat", help="Send plain-text prompts as a user message through the model's chat template.")] = False,
        batch_size: Annotated[int, typer.Option(min=1, help="Prompts generated together.")] = 8,
) -> None:
    """Generate text with a causal language model: greedy or sampled, for prompts or a file."""
    if not prompts and input is None:
        raise WhetError("nothing to generate: give prompts as arguments or a file with --input")
    if prompts and input is not None:
        raise WhetError("give prompts as arguments or --input, not both")
    # Imported after the argument checks: whet.generate pulls in torch.
    from whet.data.causal_lm import read_prompts
    from whet.generate import GenerationSettings, generate_records, generate_stream, load_generator

    settings = GenerationSettings(max_new_tokens=max_new_tokens, sample=sample, temperature=temperature, top_p=top_p,
                                  top_k=top_k, seed=seed, stop=list(stop or []))
    loaded, tokenizer = load_generator(model)
    if input is not None:
        total = None
        if input.is_file():  # counted first so the progress bar can show an ETA
            with open(input, encoding="utf-8") as handle:
                total = sum(1 for line in handle if line.strip())
        records = generate_records(loaded, tokenizer, read_prompts(input), settings, chat=chat, batch_size=batch_size)
        _write_predictions(records, output, total)
        return
    if output is not None:
        inputs = ((f"prompt {n}", {"prompt": p}, p) for n, p in enumerate(prompts, 1))
        _write_predictions(generate_records(loaded, tokenizer, inputs, settings, chat=chat, batch_size=batch_size),
                           output, len(prompts))
        return
    for prompt in prompts:  # to the terminal as it is generated
        for piece in generate_stream(loaded, tokenizer, prompt, settings, chat=chat):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")


@app.command()
def zeroshot(labels: Annotated[Path, typer.Option("--labels", help="Labels file (YAML): names, descriptions, examples, prompts.")],
             input: Annotated[Path, typer.Option("--input", "-i", help="Texts: JSONL/CSV/TSV (gold labels optional) or one per line.")],
             model: Annotated[str, typer.Option(help="builtin:minilm, a model directory or a hub id.")] = "builtin:minilm",
             mode: Annotated[str, typer.Option(help="auto (from the model), embedding, causal, nli or mlm.")] = "auto",
             output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write JSONL here instead of stdout.")] = None,
             gold: Annotated[Optional[Path], typer.Option(help="Gold labels, one per line, for the evaluation report.")] = None,
             threshold: Annotated[Optional[float], typer.Option(help="Texts scoring below it get the none label.")] = None,
             tune_threshold: Annotated[Optional[Path], typer.Option("--tune-threshold", help="Labelled dev file to tune the threshold on.")] = None,
             target_precision: Annotated[float, typer.Option(help="Precision of in-scope predictions to tune for.")] = 0.9,
             examples: Annotated[Optional[Path], typer.Option(help="Labelled examples: label vectors (embedding) or demonstrations (causal).")] = None,
             shots: Annotated[int, typer.Option(min=0, help="Causal: demonstrations shown before each text.")] = 0,
             selection: Annotated[str, typer.Option(help="Causal demonstrations: random or similar.")] = "random",
             selection_model: Annotated[str, typer.Option(help="Sentence encoder for --selection similar.")] = "builtin:minilm",
             seed: Annotated[int, typer.Option(help="Seed for random demonstrations.")] = 0,
             report_dir: Annotated[Optional[Path], typer.Option(help="Directory for the report and threshold.json.")] = None,
             text_column: Annotated[str, typer.Option(help="Column or key holding the text.")] = "text",
             label_column: Annotated[str, typer.Option(help="Column or key holding gold labels.")] = "label",
             ) -> None:
    """Label texts without training: by embedding similarity, LM prompts, NLI or a masked-LM pattern."""
    from rich.console import Console

    from whet.zeroshot.labels import load_labels

    spec = load_labels(labels)
    # Imported after the labels file is valid: the modes pull in torch.
    from whet.io.atomic import write_json_atomic
    from whet.metrics.report import render_report, write_report
    from whet.zeroshot.run import run_zeroshot

    result = run_zeroshot(spec, input, model=model, mode=mode, gold_path=gold, threshold=threshold,
                          tune_on=tune_threshold, target_precision=target_precision, examples=examples, shots=shots,
                          selection=selection, selection_model=selection_model, seed=seed,
                          text_column=text_column, label_column=label_column)
    out_dir = report_dir or Path("runs") / f"zeroshot-{input.stem}"
    if result.threshold is not None:
        write_json_atomic(out_dir / "threshold.json", result.threshold.to_dict())
        choice = result.threshold
        typer.echo(f"threshold {choice.threshold:.4f}: precision {choice.precision:.3f} of in-scope predictions, "
                   f"{choice.coverage:.1%} of {choice.dev} in scope; saved to {out_dir / 'threshold.json'}", err=True)
    _write_predictions(iter(result.records), output, len(result.records))
    if result.report is not None:
        written = write_report(result.report, out_dir)
        Console(stderr=output is None).print(render_report(result.report))
        typer.echo(f"report written to {written[0].parent}", err=True)


@app.command()
def augment(source: Annotated[Path, typer.Argument(help="Run config (YAML) or training data file (CSV, TSV, JSONL, CoNLL).")],
            output: Annotated[Path, typer.Option("--output", "-o", help="Augmented training file to write (same format).")],
            task: Annotated[Optional[str], typer.Option(help="sequence-classification or token-classification (a data file "
                                                             "whose extension does not tell).")] = None,
            model: Annotated[Optional[str], typer.Option(help="Model whose embeddings give the synonyms (default: the "
                                                              "config's, or builtin:minilm).")] = None,
            set_: Sets = None) -> None:
    """Write the training data with augmented copies of each example (data.augment; --set data.augment.copies=4)."""
    from whet.augment.apply import augment_file, load_augment_config

    run_config = load_augment_config(source, task=task, model=model, overrides=list(set_ or []))
    originals, copies = augment_file(run_config, output)
    typer.echo(f"{originals} examples and {copies} augmented copies written to {output}", err=True)


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="Run config, continual plan, assistant or monitor config (YAML).")],
             set_: Sets = None) -> None:
    """Check a config (or plan) and its data files and report every problem at once (no model is loaded)."""
    from whet.config import read_yaml

    raw = read_yaml(config) if config.is_file() else {}
    if "experiences" in raw:
        from whet.continual.experiences import plan_problems as problems_in  # a continual plan
    elif "intents" in raw and "answers" in raw:
        from whet.assistant.checks import assistant_problems as problems_in
    elif "sentiment" in raw and "task" not in raw:
        from whet.monitor.checks import monitor_problems as problems_in
    else:
        from whet.validate import config_problems as problems_in
    _report_problems(config, problems_in(config, list(set_ or [])))


def _report_problems(path: Path, problems: list[str]) -> None:
    if problems:
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    typer.echo(f"{path}: ok")


@app.command()
def continual(plan: Annotated[Path, typer.Argument(help="Continual-learning plan (YAML).")],
              set_: Sets = None,
              output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output directory (output.dir).")] = None,
              resume: Annotated[bool, typer.Option("--resume", help="Continue the plan where it stopped (or with experiences added at the end).")] = False,
              check: Annotated[bool, typer.Option("--check", help="Only check the plan and its data files.")] = False,
              ) -> None:
    """Train on a plan's experiences in order, score every experience after each step, report forgetting."""
    overrides = list(set_ or []) + ([f"output.dir={output}"] if output else [])
    if check:
        from whet.continual.experiences import plan_problems

        _report_problems(plan, plan_problems(plan, overrides))
        return
    from whet.continual.plan import load_plan

    continual_plan = load_plan(plan, overrides)
    from whet.continual.runner import run_plan  # pulls in torch, which a plan error never needs

    report = run_plan(continual_plan, resume=resume)
    typer.echo(f"report written to {Path(continual_plan.output.dir) / 'continual_report.md'}", err=True)
    typer.echo(json.dumps({split: value["summary"] for split, value in report["splits"].items()}))


@app.command()
def export(model: Annotated[Path, typer.Argument(help="A model directory saved by whet train, or an adapter store.")],
           output: Annotated[Path, typer.Option("--output", "-o", help="New directory to write.")],
           merge: Annotated[bool, typer.Option("--merge", help="Merge the adapter into the base weights (LoRA family, IA3).")] = False,
           adapter: AdapterName = None,
           quantize: Annotated[Optional[str], typer.Option(help="int8: int8 weights for fast CPU prediction (adapters are merged first); with --onnx, an int8 ONNX graph.")] = None,
           onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX, run by onnxruntime (adapters are merged first).")] = False,
           ) -> None:
    """Write a model to a new directory, transformed by the options given (--merge, --quantize, --onnx)."""
    if quantize not in (None, "int8"):
        raise WhetError(f"--quantize {quantize!r}: only int8 is supported")
    from whet.export import export_model

    export_model(model, output, merge=merge, adapter=adapter, quantize=quantize, onnx=onnx)
    kind = f"{'int8 ' if quantize else ''}{'ONNX ' if onnx else ''}"
    typer.echo(f"{kind}model written to {output}", err=True)


adapters_app = typer.Typer(no_args_is_help=True, help="Several named adapters sharing one base model (adapter stores).")
app.add_typer(adapters_app, name="adapters")
app.add_typer(recommend_app, name="recommend")


@adapters_app.command("add")
def adapters_add(store: Annotated[Path, typer.Argument(help="Adapter store (created on first use).")],
                 name: Annotated[str, typer.Argument(help="Adapter name: letters, digits, '_', '.', '-'.")],
                 model: Annotated[Path, typer.Argument(help="The model directory of an adapter run.")]) -> None:
    """Copy a trained adapter into a store under NAME."""
    from whet.adapters import add_adapter

    typer.echo(f"adapter '{name}' written to {add_adapter(store, name, model)}", err=True)


@adapters_app.command("list")
def adapters_list(store: Annotated[Path, typer.Argument(help="Adapter store.")]) -> None:
    """Print the adapter names in a store, one per line."""
    from whet.adapters import list_adapters

    for name in list_adapters(store):
        typer.echo(name)


@adapters_app.command("remove")
def adapters_remove(store: Annotated[Path, typer.Argument(help="Adapter store.")],
                    name: Annotated[str, typer.Argument(help="Adapter name.")]) -> None:
    """Delete one adapter from a store."""
    from whet.adapters import remove_adapter

    remove_adapter(store, name)
    typer.echo(f"adapter '{name}' removed from {store}", err=True)


@app.command()
def serve(models: Annotated[Optional[list[str]], typer.Argument(help="Model directories, as DIR or NAME=DIR.")] = None,
          config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Serve config (YAML).")] = None,
          host: Annotated[Optional[str], typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
          port: Annotated[Optional[int], typer.Option(help="Port (default 8000).")] = None,
          api_keys: Annotated[Optional[Path], typer.Option("--api-keys", help="File of API keys, one per line.")] = None,
          admin_keys: Annotated[Optional[Path], typer.Option("--admin-keys", help="File of admin keys.")] = None,
          adapter_dir: Annotated[Optional[Path], typer.Option("--adapter-dir", help="LoRA models admins may load by name.")] = None,
          max_batch_size: Annotated[Optional[int], typer.Option(help="Most texts gathered into one batch (default 64).")] = None,
          max_wait_ms: Annotated[Optional[float], typer.Option(help="Under load, longest wait after a batch for its callers' next requests before the next batch starts; a request that finds the worker idle starts at once (default 20).")] = None,
          no_batching: Annotated[bool, typer.Option("--no-batching", help="Run each request alone.")] = False,
          timeout: Annotated[Optional[float], typer.Option(help="Request timeout in seconds (default 30).")] = None,
          cors_origins: Annotated[Optional[list[str]], typer.Option("--cors-origin", help="Allow this browser origin (repeatable).")] = None,
          rate_limit: Annotated[Optional[float], typer.Option(help="Requests per second per API key.")] = None,
          set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a serve config value, e.g. --set limits.max_texts=64.")] = None,
          precision: Annotated[Optional[str], typer.Option(help="auto (bf16 autocast where the device is fast at it), fp32 or bf16 for the predicting models; generation stays fp32 (default auto).")] = None,
          ) -> None:
    """Serve models over HTTP: predictions with batching, API keys, limits, metrics, a playground page;
    recommender model directories too (POST /v1/recommend, a page at /recommend)."""
    from whet.recommend.routes import RECOMMENDERS
    from whet.serve.run import build_config, serve as run_server

    options = {"host": host, "port": port, "api_keys": api_keys, "admin_keys": admin_keys, "adapter_dir": adapter_dir,
               "max_batch_size": max_batch_size, "max_wait_ms": max_wait_ms, "no_batching": no_batching,
               "timeout": timeout, "cors_origins": cors_origins, "rate_limit": rate_limit, "precision": precision}
    # whet.serve imports no application: the kinds of model directory they serve are handed in here.
    kinds = (RECOMMENDERS,)
    run_server(build_config(list(models or []), config, options, list(set_ or []), kinds=kinds), kinds=kinds)


assistant_app = typer.Typer(no_args_is_help=True, help="A customer-service assistant on your intent model: answers, "
                                                      "clarifications, knowledge-base retrieval and hand-off to a person.")
app.add_typer(assistant_app, name="assistant")
AssistantConfigArg = Annotated[Path, typer.Argument(help="Assistant config (YAML).")]


@assistant_app.command("serve")
def assistant_serve(config: AssistantConfigArg,
                    host: Annotated[Optional[str], typer.Option(help="Address to bind (default: server.host).")] = None,
                    port: Annotated[Optional[int], typer.Option(help="Port (default: server.port).")] = None,
                    set_: Sets = None) -> None:
    """Serve the assistant over HTTP (POST /v1/assistant/messages) with a chat page at /chat."""
    from whet.assistant.service import checked_config, serve as run_assistant

    overrides = list(set_ or []) + [f"server.{k}={v}" for k, v in (("host", host), ("port", port)) if v is not None]
    run_assistant(checked_config(config, overrides))


@assistant_app.command("chat")
def assistant_chat(config: AssistantConfigArg,
                   session: Annotated[Optional[str], typer.Option(help="Continue this session (default: a new one).")] = None,
                   quiet: Annotated[bool, typer.Option("--quiet", help="Only the replies, not the action and why.")] = False,
                   set_: Sets = None) -> None:
    """Talk to the assistant in the terminal; every turn is stored like the service's."""
    from whet.assistant.chat import chat
    from whet.assistant.service import checked_config, running_assistant

    with running_assistant(checked_config(config, list(set_ or []))) as assistant:
        chat(assistant, session_id=session, explain=not quiet)


@assistant_app.command("eval")
def assistant_eval(config: AssistantConfigArg,
                   data: Annotated[Path, typer.Option("--data", help="Labelled messages (JSONL or CSV: text, label; out-of-scope ones labelled oos).")],
                   output: Annotated[Optional[Path], typer.Option(help="Also write the report as JSON here.")] = None,
                   oos_label: Annotated[Optional[str], typer.Option(help="Label of out-of-scope messages (default: the detector's, else oos).")] = None,
                   set_: Sets = None) -> None:
    """Replay labelled messages and report the decisions: answers right and wrong, clarifications, hand-offs."""
    from whet.assistant.evaluation import print_quality, replay
    from whet.assistant.service import checked_config, running_assistant
    from whet.io.atomic import write_json_atomic

    with running_assistant(checked_config(config, list(set_ or []))) as assistant:
        report = replay(assistant, str(data), oos_label=oos_label)
    print_quality(report)
    if output is not None:
        write_json_atomic(output, report)


@assistant_app.command("export-feedback")
def assistant_export_feedback(config: AssistantConfigArg,
                              output: Annotated[Path, typer.Option(help="Folder for train.jsonl (intents) and faq.jsonl (replies).")],
                              set_: Sets = None) -> None:
    """Turn tickets a person resolved into training examples (for whet train or a whet continual experience)."""
    from whet.assistant.feedback import export_feedback
    from whet.assistant.service import checked_config
    from whet.assistant.store import ConversationStore

    store = ConversationStore(checked_config(config, list(set_ or [])).conversations.database)
    try:
        counts = export_feedback(store, output)
    finally:
        store.close()
    typer.echo(f"{counts['examples']} labelled examples written to {output / 'train.jsonl'}, "
               f"{counts['faq_pairs']} question-answer pairs to {output / 'faq.jsonl'}", err=True)


monitor_app = typer.Typer(no_args_is_help=True, help="Financial sentiment monitoring: documents scored, windowed per "
                                                    "company and topic, changes alerted.")
app.add_typer(monitor_app, name="monitor")


def _monitor_config(config: Path, set_: Optional[list[str]]):
    from whet.monitor.settings import load_monitor_config

    return load_monitor_config(config, list(set_ or []))


@monitor_app.command("ingest")
def monitor_ingest(config: Annotated[Path, typer.Argument(help="Monitor config (YAML).")],
                   inputs: Annotated[Optional[list[Path]], typer.Argument(help="JSON Lines files or folders of them.")] = None,
                   stdin: Annotated[bool, typer.Option("--stdin", help="Also read documents from standard input.")] = False,
                   follow: Annotated[Optional[float], typer.Option(help="Keep reading new lines, polling every this many seconds.")] = None,
                   set_: Sets = None) -> None:
    """Score, store and window documents; judge the alert rules. Each file resumes where the last run stopped."""
    from whet.monitor.service import ingest, running_monitor

    if not inputs and not stdin:
        raise WhetError("nothing to ingest: give JSON Lines files or folders, or --stdin")
    with running_monitor(_monitor_config(config, set_)) as monitor:
        stats = ingest(monitor, list(inputs or []), stdin=stdin, follow_s=follow)
    typer.echo(json.dumps({"read": stats.read, "stored": stats.stored, "duplicates": stats.duplicates,
                           "rejected": stats.rejected, "alerts": len(stats.alerts)}))


@monitor_app.command("alerts")
def monitor_alerts(config: Annotated[Path, typer.Argument(help="Monitor config (YAML).")],
                   key: Annotated[Optional[str], typer.Option(help="Only this entity or topic (entity:Nokia, topic:layoffs, overall).")] = None,
                   set_: Sets = None) -> None:
    """Print the stored alerts as JSON lines, oldest first, with their evidence and delivery state."""
    from whet.monitor.alerts import alert_payload
    from whet.monitor.store import MonitorStore

    store = MonitorStore(_monitor_config(config, set_).database)
    try:
        for alert in store.alerts(key=key):
            typer.echo(json.dumps({**alert_payload(alert), "delivery": alert["delivery"]}, ensure_ascii=False))
    finally:
        store.close()


@monitor_app.command("serve")
def monitor_serve(config: Annotated[Path, typer.Argument(help="Monitor config (YAML).")],
                  host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
                  port: Annotated[int, typer.Option(help="Port.")] = 8000,
                  api_keys: Annotated[Optional[Path], typer.Option("--api-keys", help="File of API keys, one per line.")] = None,
                  set_: Sets = None) -> None:
    """The dashboard (/monitor) and JSON API, with POST /v1/monitor/documents for documents as they come."""
    from whet.monitor.service import serve as run_monitor

    run_monitor(_monitor_config(config, set_), host=host, port=port,
                api_keys=str(api_keys.expanduser().resolve()) if api_keys else None)


@monitor_app.command("report")
def monitor_report(config: Annotated[Path, typer.Argument(help="Monitor config (YAML).")],
                   output: Annotated[Path, typer.Option(help="Folder for report.md and one PNG chart per entity or topic.")],
                   since: Annotated[str, typer.Option(help="Start: ISO 8601 (2026-03-01T00:00:00Z), epoch seconds, or a duration back from the latest document (7d).")] = "7d",
                   window: Annotated[Optional[str], typer.Option(help="Window size (default: the config's first).")] = None,
                   key: Annotated[Optional[list[str]], typer.Option(help="Only these entities or topics (repeatable).")] = None,
                   set_: Sets = None) -> None:
    """Write the dashboard as Markdown and PNG charts: index, volume and alerts per entity and topic."""
    from whet.monitor.documents import RecordError, parse_timestamp
    from whet.monitor.report import write_report
    from whet.monitor.settings import duration_seconds
    from whet.monitor.store import MonitorStore

    monitor_config = _monitor_config(config, set_)
    if window is not None and window not in monitor_config.windows:
        raise WhetError(f"--window {window!r}: choose one of the config's windows ({', '.join(monitor_config.windows)})")
    store = MonitorStore(monitor_config.database)
    try:
        latest = store.latest_timestamp()
        if latest is None:
            raise WhetError(f"{monitor_config.database} holds no documents yet; run whet monitor ingest first")
        try:
            start = latest - duration_seconds(since)
        except ValueError:
            try:
                start = parse_timestamp(since)
            except RecordError:
                raise WhetError(f"--since {since!r}: give ISO 8601, epoch seconds or a duration such as 7d") from None
        path = write_report(store, monitor_config, output, since=start, window=window, keys=key or None)
    finally:
        store.close()
    typer.echo(f"report written to {path}", err=True)


def main() -> None:
    """Console entry point: run the app, turning user errors into a message and exit code 2."""
    try:
        # Without standalone mode click returns the code of a typer.Exit instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except WhetError as err:
        if state["debug"]:
            raise
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except Interrupted as err:
        typer.echo(str(err), err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except Exception as err:  # click usage errors and the like
        import click

        # Typer checks some option values itself (min=) and raises its own copies of click's errors.
        if isinstance(err, (click.exceptions.ClickException, typer.TyperException)) and hasattr(err, "show"):
            err.show()
            sys.exit(2)
        if isinstance(err, (click.exceptions.Abort, typer.Abort)):
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
