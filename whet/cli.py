"""The ``whet`` command line. Each command parses arguments and calls a plain function.

User errors (``WhetError``) become one line on stderr and exit code 2; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from whet.errors import Interrupted, WhetError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Adapt pretrained transformer models to your task, measure them, ship them.")
state = {"debug": False}

Sets = Annotated[Optional[list[str]], typer.Option("--set", help="Override a config value, e.g. --set training.lr=3e-5.")]


def _is_main_process() -> bool:
    """False in the extra processes of a distributed run (torchrun / accelerate launch set RANK)."""
    return int(os.environ.get("RANK", "0")) == 0


def _setup_logging(debug: bool) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    handler = RichHandler(console=Console(stderr=True), show_path=False, show_time=False, markup=False)
    level = logging.DEBUG if debug else logging.INFO if _is_main_process() else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False) -> None:
    state["debug"] = debug
    _setup_logging(debug)


@app.command()
def train(config: Annotated[Path, typer.Argument(help="Run config (YAML).")],
          set_: Sets = None,
          resume: Annotated[bool, typer.Option("--resume", help="Continue the run from its last checkpoint.")] = False,
          merge: Annotated[bool, typer.Option("--merge", help="LoRA: also save the merged model.")] = False,
          output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Run directory (output.dir).")] = None,
          processes: Annotated[int, typer.Option("--processes", min=1, help="Train data-parallel in N local processes.")] = 1,
          ) -> None:
    """Fine-tune a model as the config says; write the model, reports and checkpoints."""
    from whet.config import load_config
    from whet.launch import is_distributed_child, launch

    overrides = list(set_ or []) + ([f"output.dir={output}"] if output else [])
    run_config = load_config(config, overrides)
    if processes > 1 and not is_distributed_child():
        arguments = ["--debug"] * state["debug"] + ["train", str(config), *(f"--set={o}" for o in overrides)]
        arguments += ["--resume"] * resume + ["--merge"] * merge
        raise typer.Exit(launch(arguments, processes))
    # Imported after the config is valid: whet.train pulls in torch, which a config error never needs.
    from whet.train import train as run_training

    results = run_training(run_config, resume=resume, merge=merge or None)
    if _is_main_process():
        typer.echo(f"model saved to {Path(run_config.output.dir) / 'model'}", err=True)
        typer.echo(json.dumps(results))


@app.command("eval")
def evaluate(model: Annotated[Path, typer.Argument(help="A model directory saved by whet train.")],
             data: Annotated[Path, typer.Argument(help="Labelled data file.")],
             output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Directory for the report files.")] = None,
             mode: Annotated[str, typer.Option(help="NER entity matching: default or strict.")] = "default",
             format: Annotated[Optional[str], typer.Option(help="Data format (default: from the extension).")] = None,
             encoding: Annotated[Optional[str], typer.Option(help="Text encoding of the data file.")] = None,
             ) -> None:
    """Evaluate a saved model on a labelled file: print the report, write JSON, Markdown and plots."""
    from rich.console import Console

    from whet import load
    from whet.report import render_report, write_report

    if mode not in ("default", "strict"):
        raise WhetError(f"--mode {mode!r}: choose default or strict")
    report = load(str(model)).evaluate(str(data), mode=mode, format=format, encoding=encoding)
    out_dir = output or model.parent / f"eval-{data.stem}"
    written = write_report(report, out_dir)
    Console().print(render_report(report))
    typer.echo(f"report written to {written[0].parent}", err=True)


@app.command()
def predict(model: Annotated[Path, typer.Argument(help="A model directory saved by whet train.")],
            texts: Annotated[Optional[list[str]], typer.Argument(help="Texts to predict on.")] = None,
            input: Annotated[Optional[Path], typer.Option("--input", "-i", help="JSONL (objects or strings) or text file, one input per line.")] = None,
            output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write JSONL here instead of stdout.")] = None,
            batch_size: Annotated[int, typer.Option(help="Most inputs per batch.")] = 64,
            ) -> None:
    """Predict entities or labels for texts given as arguments or in a file; JSON lines out."""
    if not texts and input is None:
        raise WhetError("nothing to predict: give texts as arguments or a file with --input")
    if texts and input is not None:
        raise WhetError("give texts as arguments or --input, not both")
    # Imported after the argument checks: whet.predict pulls in torch.
    from whet.predict import Predictor, read_prediction_inputs

    predictor = Predictor.from_directory(model)
    if texts:
        for record in predictor.predict(texts, batch_size=batch_size):
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    total = None
    if input.is_file():  # counted first so the progress bar can show an ETA
        with open(input, encoding="utf-8") as handle:
            total = sum(1 for line in handle if line.strip())
    results = predictor.predict_stream(read_prediction_inputs(input), batch_size=batch_size)
    _write_predictions(results, output, total)


def _write_predictions(results, output: Optional[Path], total: Optional[int]) -> None:
    import os
    import tempfile

    from whet.progress import prediction_progress

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


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="Run config (YAML).")], set_: Sets = None) -> None:
    """Check a config and its data files and report every problem at once (no model is loaded)."""
    from whet.validate import config_problems

    problems = config_problems(config, list(set_ or []))
    if problems:
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    typer.echo(f"{config}: ok")


@app.command()
def serve(models: Annotated[Optional[list[str]], typer.Argument(help="Model directories, as DIR or NAME=DIR.")] = None,
          config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Serve config (YAML).")] = None,
          host: Annotated[Optional[str], typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
          port: Annotated[Optional[int], typer.Option(help="Port (default 8000).")] = None,
          api_keys: Annotated[Optional[Path], typer.Option("--api-keys", help="File of API keys, one per line.")] = None,
          admin_keys: Annotated[Optional[Path], typer.Option("--admin-keys", help="File of admin keys.")] = None,
          adapter_dir: Annotated[Optional[Path], typer.Option("--adapter-dir", help="LoRA models admins may load by name.")] = None,
          max_batch_size: Annotated[Optional[int], typer.Option(help="Most texts gathered into one batch (default 64).")] = None,
          max_wait_ms: Annotated[Optional[float], typer.Option(help="Longest wait for a batch to fill (default 5).")] = None,
          no_batching: Annotated[bool, typer.Option("--no-batching", help="Run each request alone.")] = False,
          timeout: Annotated[Optional[float], typer.Option(help="Request timeout in seconds (default 30).")] = None,
          cors_origins: Annotated[Optional[list[str]], typer.Option("--cors-origin", help="Allow this browser origin (repeatable).")] = None,
          rate_limit: Annotated[Optional[float], typer.Option(help="Requests per second per API key.")] = None,
          set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a serve config value, e.g. --set limits.max_texts=64.")] = None,
          ) -> None:
    """Serve models over HTTP: predictions with batching, API keys, limits, metrics, a playground page."""
    from whet.serve.run import build_config, serve as run_server

    options = {"host": host, "port": port, "api_keys": api_keys, "admin_keys": admin_keys, "adapter_dir": adapter_dir,
               "max_batch_size": max_batch_size, "max_wait_ms": max_wait_ms, "no_batching": no_batching,
               "timeout": timeout, "cors_origins": cors_origins, "rate_limit": rate_limit}
    run_server(build_config(list(models or []), config, options, list(set_ or [])))


def main() -> None:
    """Console entry point: run the app, turning user errors into one line and exit code 2."""
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

        if isinstance(err, click.exceptions.ClickException):
            err.show()
            sys.exit(2)
        if isinstance(err, click.exceptions.Abort):
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
