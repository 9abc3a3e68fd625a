"""``whet tune``: a hyperparameter search over a run config's ``tune`` section, with Optuna.

Each trial is a ``whet train`` run of the config with the sampled values set, in its own
directory (``trial-007``). The TPE sampler proposes the values; the pruner stops a trial at a
dev evaluation where it already looks worse than the others: the trial's ``on_step`` handler,
which ``fit`` calls after each training step, reports every dev score to the trial and ends the
run when Optuna says so. The study lives in ``study.db`` (SQLite) in the output directory, so
running the command again continues it: finished trials are kept and ``trials`` counts them.
At the end (also after an interruption): the best config as a runnable ``whet train`` YAML, the
trials table (CSV and Markdown), the optimisation history and parameter importances (PNG).
"""

from __future__ import annotations

import csv
import io
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from whet.config import RunConfig, tune_metric, with_values
from whet.errors import ConfigError, Interrupted
from whet.io.atomic import write_bytes_atomic, write_text_atomic
from whet.search_space import CategoricalDistribution, FloatDistribution, TuneConfig

log = logging.getLogger("whet")

STUDY_NAME = "whet-tune"
# A trial whose process died without a word (killed, out of memory) is marked failed once its
# heartbeat is this old, so that it neither counts nor stays "running" in the table.
HEARTBEAT_S, GRACE_S = 30, 90


@dataclass
class TuneResult:
    """Where a search ended: its finished trials, the best one (``None`` if none completed), the files."""

    study: Any  # optuna.Study
    metric: str
    best: Any | None  # optuna.trial.FrozenTrial
    best_config: Path | None
    files: list[Path]


def tune(config: RunConfig, *, trials: int | None = None, keep_models: str | None = None,
         source: str = "CONFIG") -> TuneResult:
    """Search the settings ``config.tune.params`` names, training one run per trial.

    Args:
        config: a validated run config with a ``tune`` section (``whet.config.load_config``).
        trials: trials in the study in all, those of earlier runs in ``output.dir`` included
            (default: ``tune.trials``).
        keep_models: ``best`` or ``all`` (default: ``tune.keep_models``).
        source: the config file's name, for the header of the best config.

    Example:
        >>> result = tune(load_config("configs/banking77-tune.yaml"), trials=8)
        >>> result.best.params, result.best_config
    """
    if not config.tune.params:
        raise ConfigError("tune.params: no settings to search; name at least one, e.g. "
                          "training.lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}")
    import optuna

    settings = config.tune.model_copy(update={key: value for key, value in
                                              (("trials", trials), ("keep_models", keep_models)) if value})
    if settings.pruner.name != "none" and config.training.eval_every == "end":
        log.warning("training.eval_every is end: each trial is scored once, at its end, so the %s pruner "
                    "stops none early; set training.eval_every to null (each epoch) or a number of steps",
                    settings.pruner.name)
    out = Path(config.output.dir)
    out.mkdir(parents=True, exist_ok=True)
    metric, direction = tune_metric(config)
    study = open_study(out, direction, settings)
    remaining = settings.trials - len(finished_trials(study))
    if len(study.trials):
        log.info("study %s: %d trials finished, %d to run", out / "study.db", settings.trials - remaining,
                 max(remaining, 0))
    try:
        if remaining > 0:
            study.optimize(trial_objective(config, out, metric), n_trials=remaining,
                           callbacks=[lambda study, trial: drop_models(study, out, settings.keep_models)])
    except Interrupted as err:
        raise Interrupted(f"{err}; run whet tune again to go on (finished trials are kept)") from None
    finally:
        best = best_trial(study)
        files = write_trials_table(study, out, metric) + write_plots(study, out, metric)
        best_config = write_best_config(config, best, out, metric, source) if best else None
    return TuneResult(study=study, metric=metric, best=best, best_config=best_config,
                      files=files + ([best_config] if best_config else []))


def open_study(out: Path, direction: str, settings: TuneConfig) -> Any:
    """The study in ``out/study.db``, new or as an earlier run left it."""
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # the heartbeat
        storage = optuna.storages.RDBStorage(f"sqlite:///{(out / 'study.db').resolve()}",
                                             heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
    study = optuna.create_study(storage=storage, study_name=STUDY_NAME, direction=direction,
                                pruner=build_pruner(settings, direction), load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise ConfigError(f"{out / 'study.db'} holds a study that {study.direction.name.lower()}s, but this config "
                          f"{direction}s {direction}; choose another output.dir")
    # Seeded past the trials already run, so a continued study does not draw its first trials again.
    study.sampler = optuna.samplers.TPESampler(seed=settings.sampler.seed + len(study.trials),
                                               n_startup_trials=settings.sampler.startup_trials)
    return study


def build_pruner(settings: TuneConfig, direction: str) -> Any:
    from optuna.pruners import MedianPruner, NopPruner, ThresholdPruner

    pruner = settings.pruner
    if pruner.name == "median":
        return MedianPruner(n_startup_trials=pruner.startup_trials, n_warmup_steps=epoch_step(pruner.warmup_epochs))
    if pruner.name == "threshold":
        bound = {"lower" if direction == "maximize" else "upper": pruner.threshold}
        return ThresholdPruner(**bound, n_warmup_steps=epoch_step(pruner.warmup_epochs))
    return NopPruner()


def finished_trials(study: Any) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def best_trial(study: Any) -> Any | None:
    from optuna.trial import TrialState

    return study.best_trial if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) else None


def trial_dir(out: Path, number: int) -> Path:
    return out / f"trial-{number:03d}"


def sample(trial: Any, path: str, distribution: Any) -> Any:
    """One value for ``path`` from its distribution."""
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(path, distribution.choices)
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(path, distribution.low, distribution.high, log=distribution.log,
                                   step=distribution.step)
    return trial.suggest_int(path, distribution.low, distribution.high, step=distribution.step, log=distribution.log)


def trial_config(config: RunConfig, values: dict[str, Any], output_dir: Path) -> RunConfig:
    """The run config of one trial: ``config`` with ``values`` set, no search, its own directory."""
    raw = with_values(config, values)
    raw["output"]["dir"] = str(output_dir)
    return RunConfig.model_validate(raw)


def trial_objective(config: RunConfig, out: Path, metric: str) -> Callable[[Any], float]:
    def objective(trial: Any) -> float:
        from whet.train import train

        values = {path: sample(trial, path, distribution) for path, distribution in config.tune.params.items()}
        shown = ", ".join(f"{path}={value:.4g}" if isinstance(value, float) else f"{path}={value}"
                          for path, value in values.items())
        log.info("trial %d: %s", trial.number, shown)
        results = train(trial_config(config, values, trial_dir(out, trial.number)),
                        on_step=report_to_trial(trial, metric))
        return float(results["dev"][metric])

    return objective


def epoch_step(epoch: float) -> int:
    """The step a dev score is reported at: hundredths of an epoch trained. Not the optimizer step,
    so that trials of different batch sizes meet at the same point of training (the pruner compares
    a trial with the others at the same step)."""
    return round(epoch * 100)


def report_to_trial(trial: Any, metric: str) -> Callable[[Any], None]:
    """A ``fit`` handler: each dev evaluation's ``metric`` goes to ``trial``, which may end the run there."""
    import optuna

    def on_step(event: Any) -> None:
        if event.metrics is None:
            return
        value = event.metrics[metric]
        trial.report(value, epoch_step(event.epoch))
        if trial.should_prune():
            log.info("trial %d pruned at epoch %.2f (step %d): dev %s %.4f", trial.number, event.epoch, event.step,
                     metric, value)
            raise optuna.TrialPruned(f"{metric} {value:.4f} at epoch {event.epoch:.2f}")

    return on_step


def drop_models(study: Any, out: Path, keep_models: str) -> None:
    """After each trial: its checkpoints go (a trial is never resumed), and with ``keep_models: best``
    so does every model but the best trial's; configs and reports stay."""
    from optuna.trial import TrialState

    best = best_trial(study)
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.RUNNING:
            continue
        run = trial_dir(out, trial.number)
        shutil.rmtree(run / "checkpoints", ignore_errors=True)
        if keep_models == "best" and (best is None or trial.number != best.number):
            shutil.rmtree(run / "model", ignore_errors=True)


def trial_rows(study: Any, metric: str, *, exact: bool = False) -> tuple[list[str], list[list[str]]]:
    """The trials table: number, state, value, duration and each searched setting (rounded for
    reading unless ``exact``)."""
    shown = str if exact else lambda value: f"{value:.4g}" if isinstance(value, float) else str(value)
    params = sorted({path for trial in study.trials for path in trial.params})
    header = ["trial", "state", metric, "duration_s", *params]
    rows = []
    for trial in study.trials:
        value = "" if trial.value is None else str(trial.value) if exact else f"{trial.value:.4f}"
        duration = "" if trial.duration is None else f"{trial.duration.total_seconds():.1f}"
        rows.append([str(trial.number), trial.state.name.lower(), value, duration,
                     *(shown(trial.params[p]) if p in trial.params else "" for p in params)])
    return header, rows


def write_trials_table(study: Any, out: Path, metric: str) -> list[Path]:
    text = io.StringIO()
    header, rows = trial_rows(study, metric, exact=True)
    csv.writer(text, lineterminator="\n").writerows([header, *rows])
    write_text_atomic(out / "trials.csv", text.getvalue())
    header, rows = trial_rows(study, metric)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    write_text_atomic(out / "trials.md", "\n".join(lines) + "\n")
    return [out / "trials.csv", out / "trials.md"]


def write_plots(study: Any, out: Path, metric: str) -> list[Path]:
    """The optimisation history, and the parameter importances once two trials have completed."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    written = []
    completed = [t for t in study.trials if t.state.name == "COMPLETE"]
    plots = [("history.png", optuna_plots.plot_optimization_history, 1),
             ("importances.png", optuna_plots.plot_param_importances, 2)]
    for name, plot, needed in plots:
        if len(completed) < needed:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna marks its matplotlib plots experimental
            axes = plot(study, target_name=metric)
        figure = axes.figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        plt.close(figure)
        write_bytes_atomic(out / name, buffer.getvalue())
        written.append(out / name)
    return written


def write_best_config(config: RunConfig, best: Any, out: Path, metric: str, source: str) -> Path:
    """The best trial's settings as a ``whet train`` config (writing to ``out/retrain``)."""
    path = out / "best.yaml"
    header = (f"# The best of whet tune {source}: trial {best.number}, dev {metric} {best.value:.4f}; "
              f"its model is {trial_dir(out, best.number) / 'model'}.\n"
              f"#   whet train {path}\n")
    best_run = trial_config(config, best.params, out / "retrain")
    write_text_atomic(path, header + yaml.safe_dump(best_run.model_dump(), sort_keys=False))
    return path


def render_summary(result: TuneResult, shown: int = 10) -> Any:
    """A rich table of the best trials, best first."""
    from rich.table import Table

    header, rows = trial_rows(result.study, result.metric)
    reverse = result.study.direction.name == "MAXIMIZE"
    scored = sorted((r for r in rows if r[2]), key=lambda r: float(r[2]), reverse=reverse)
    title = f"{len(rows)} trials" + (f", best: trial {result.best.number}" if result.best else ", none completed")
    table = Table(*header, title=title)
    for row in scored[:shown] + [r for r in rows if not r[2]]:
        style = "bold green" if result.best and row[0] == str(result.best.number) else None
        table.add_row(*row, style=style)
    return table
