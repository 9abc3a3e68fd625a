"""``auto`` precision: what it resolves to on each kind of device, the CPU probe, the cache,
explicit values, and the autocast that follows from it."""

from __future__ import annotations

import logging
import time

import pytest
import torch

from whet.config import TrainingConfig, validation_problems
from whet.errors import ConfigError
from whet.models import precision as precision_module
from whet.models.inference import autocast
from whet.models.precision import auto_precision, bf16_matmul_speedup, resolve_precision

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def fresh_decisions():
    """Each test decides anew; later tests see the machine's own decision again."""
    auto_precision.cache_clear()
    yield
    auto_precision.cache_clear()


def cpu_like(monkeypatch, *, amx: bool, speedup: float | None = None) -> list[str]:
    """A CPU with or without AMX whose probe measures ``speedup``; returns the calls made."""
    calls = []

    def has_amx() -> bool:
        calls.append("amx")
        return amx

    def probe() -> float:
        calls.append("probe")
        assert speedup is not None, "the probe runs only without AMX"
        return speedup

    monkeypatch.setattr(precision_module, "cpu_has_amx", has_amx)
    monkeypatch.setattr(precision_module, "bf16_matmul_speedup", probe)
    return calls


@pytest.mark.parametrize(("amx", "speedup", "expected", "reason"), [
    (True, None, "bf16", "CPU has AMX"),
    (False, 0.4, "fp32", "bf16 matmul 0.4x the speed of fp32 on this CPU"),
    (False, 1.3, "fp32", "bf16 matmul 1.3x the speed of fp32 on this CPU"),  # faster, but not enough to pay
    (False, 2.5, "bf16", "bf16 matmul 2.5x the speed of fp32 on this CPU"),
])
def test_auto_on_a_cpu_follows_amx_then_the_probe(monkeypatch, caplog, amx, speedup, expected, reason):
    calls = cpu_like(monkeypatch, amx=amx, speedup=speedup)
    with caplog.at_level(logging.INFO, logger="whet"):
        assert resolve_precision("auto", CPU) == expected
    assert calls == (["amx"] if amx else ["amx", "probe"])
    assert [r.getMessage() for r in caplog.records] == [f"precision auto: {expected} ({reason})"]


def test_auto_is_decided_and_logged_once_per_device_type(monkeypatch, caplog):
    calls = cpu_like(monkeypatch, amx=False, speedup=3.0)
    with caplog.at_level(logging.INFO, logger="whet"):
        decisions = [resolve_precision("auto", "cpu") for _ in range(3)]
    assert decisions == ["bf16"] * 3 and calls == ["amx", "probe"]
    assert len(caplog.records) == 1


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_on_a_gpu_asks_for_native_bf16(monkeypatch, native, expected):
    asked = []

    def is_bf16_supported(including_emulation: bool = True) -> bool:
        asked.append(including_emulation)
        return native

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert resolve_precision("auto", torch.device("cuda")) == expected
    assert asked == [False]  # emulated bf16 is slower than float32


def test_auto_on_other_devices_is_fp32(monkeypatch):
    cpu_like(monkeypatch, amx=True)
    assert resolve_precision("auto", "mps") == "fp32"
    assert auto_precision("mps") == ("fp32", "bf16 is not chosen automatically on mps")


@pytest.mark.parametrize("requested", ["fp32", "bf16"])
@pytest.mark.parametrize("device", ["cpu", "cuda", "mps"])
def test_explicit_values_are_honoured_without_asking_the_device(monkeypatch, requested, device):
    calls = cpu_like(monkeypatch, amx=True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda **_: pytest.fail("asked the GPU"))
    assert resolve_precision(requested, device) == requested
    assert calls == []


def test_unknown_values_are_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"^precision 'fp16': choose auto, fp32 or bf16$"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ConfigError, match=r"^--precision 'half': choose auto, fp32 or bf16$"):
        precision_module.check_precision("half", "--precision")


def test_the_probe_measures_a_positive_speedup_quickly():
    started = time.perf_counter()
    speedup = bf16_matmul_speedup()
    # A few milliseconds with AMX; the bound leaves room for a busy machine.
    assert speedup > 0 and time.perf_counter() - started < 0.5


@pytest.mark.parametrize(("requested", "decided", "bf16"), [
    ("auto", "bf16", True), ("auto", "fp32", False), ("bf16", "fp32", True), ("fp32", "bf16", False)])
def test_autocast_follows_the_resolved_precision(monkeypatch, requested, decided, bf16):
    monkeypatch.setattr(precision_module, "auto_precision", lambda device_type: (decided, "test"))
    layer = torch.nn.Linear(4, 4)
    with torch.inference_mode(), autocast(CPU, requested):
        assert (layer(torch.ones(1, 4)).dtype == torch.bfloat16) == bf16


def test_training_precision_defaults_to_auto_and_takes_the_three_values():
    assert TrainingConfig().precision == "auto"
    for value in ("auto", "fp32", "bf16"):
        assert validation_problems({"task": "token-classification", "training": {"precision": value}}) == []
