"""The ``tune`` section of a run config: which config fields ``whet tune`` searches, and how.

Each entry of ``tune.params`` maps a dotted config path (``training.lr``, ``method.lora.r``) to
a distribution, the three Optuna samples from: ``float`` (``low``, ``high``, ``log``, ``step``),
``int`` (``low``, ``high``, ``step``, ``log``) and ``categorical`` (``choices``). The paths and
the values each distribution can give are checked against the rest of the run config by
``whet.config`` (this module knows only the shape of the section).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Distribution(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FloatDistribution(Distribution):
    type: Literal["float"]
    low: float = Field(..., description="Smallest value.")
    high: float = Field(..., description="Largest value.")
    log: bool = Field(False, description="Sample evenly on a log scale (learning rates).")
    step: float | None = Field(None, gt=0, description="Sample only low, low + step, ...; not with log.")

    @model_validator(mode="after")
    def _bounds(self) -> FloatDistribution:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}; swap them")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low above 0 (got {self.low}); raise low or set log: false")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be used together; remove one of them")
        return self

    def candidates(self) -> list[float]:
        """Values that must all be valid for the field: the ends, and a value between them that is
        not whole where the ends are (it catches a float range given for an integer field)."""
        return [self.low, self.high, self.low + (self.high - self.low) / math.e]


class IntDistribution(Distribution):
    type: Literal["int"]
    low: int = Field(..., description="Smallest value.")
    high: int = Field(..., description="Largest value.")
    step: int = Field(1, ge=1, description="Sample only low, low + step, ...")
    log: bool = Field(False, description="Sample evenly on a log scale; only with step 1.")

    @model_validator(mode="after")
    def _bounds(self) -> IntDistribution:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}; swap them")
        if self.log and (self.low < 1 or self.step != 1):
            raise ValueError("log: true needs low of at least 1 and step 1")
        return self

    def candidates(self) -> list[int]:
        return [self.low, self.high]


class CategoricalDistribution(Distribution):
    type: Literal["categorical"]
    choices: list[str | bool | int | float | None] = Field(..., min_length=1, description="The values to try.")

    def candidates(self) -> list:
        return list(self.choices)


ParamDistribution = Annotated[Union[FloatDistribution, IntDistribution, CategoricalDistribution],
                              Field(discriminator="type")]


class TunePruner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Literal["median", "threshold", "none"] = Field(
        "median", description="median: stop a trial whose best dev score so far is worse than the median of the finished "
                              "trials at the same point of training; threshold: stop one worse than threshold; none.")
    startup_trials: int = Field(2, ge=0, description="median: trials that run to the end before any is stopped.")
    warmup_epochs: float = Field(1.0, ge=0, description="Epochs a trial trains before it may be stopped (trials are "
                                                         "compared at the same point of training, in epochs).")
    threshold: float | None = Field(None, description="threshold: the dev score a trial must reach (at least it "
                                                      "when maximizing, at most it when minimizing).")

    @model_validator(mode="after")
    def _threshold_given(self) -> TunePruner:
        if self.name == "threshold" and self.threshold is None:
            raise ValueError("name threshold needs a threshold value; set tune.pruner.threshold")
        return self


class TuneSampler(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="Seed of the TPE sampler: the same seed and trials repeat a search.")
    startup_trials: int = Field(4, ge=1, description="Trials sampled at random before TPE models the results.")


class TuneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    params: dict[str, ParamDistribution] = Field(
        default_factory=dict,
        description="Dotted config path -> distribution: {type: float, low, high, log, step}, "
                    "{type: int, low, high, step, log} or {type: categorical, choices: [...]} (see docs/tuning.md).")
    trials: int = Field(20, ge=1, description="Trials in the study, counting those of an earlier, interrupted "
                                              "run (whet tune --trials overrides it).")
    metric: str | None = Field(None, description="Dev metric to optimise (default: training.metric, else the task's).")
    direction: Literal["maximize", "minimize"] | None = Field(
        None, description="Whether the metric is better higher or lower (default: from the task).")
    sampler: TuneSampler = Field(default_factory=TuneSampler, description="The TPE sampler.")
    pruner: TunePruner = Field(default_factory=TunePruner, description="Stopping unpromising trials early.")
    keep_models: Literal["best", "all"] = Field(
        "best", description="Keep the model of the best trial only (others keep config and reports), or of all.")
