"""Which precision a model runs in: ``auto`` chosen per device, or ``fp32``/``bf16`` as given.

``bf16`` means bf16 autocast (``whet.models.inference.autocast``): the weights stay float32 and
matrix products run in bf16. That pays only where the hardware multiplies bf16 fast, so ``auto``
asks the device: a GPU that does bf16 natively, a CPU with AMX tiles, or another CPU whose bf16
matrix product measures clearly faster than its float32 one. Everything else runs float32.
"""

from __future__ import annotations

import functools
import logging
import time

import torch

from whet.errors import ConfigError

log = logging.getLogger("whet")

PRECISIONS = ("auto", "fp32", "bf16")

# bf16 is chosen on a CPU without AMX only when its matrix product is at least this much faster:
# autocast also converts activations and weights each pass, which a small gain does not repay.
PROBE_MIN_SPEEDUP = 1.5
PROBE_SHAPE = (256, 1024, 1024)  # (rows, inner, columns): a transformer layer's product, ~2 ms in float32
PROBE_REPEATS = 3


def check_precision(value: str, where: str = "precision") -> str:
    """``value`` when it is one of ``PRECISIONS``; otherwise a ``ConfigError`` naming ``where``."""
    if value not in PRECISIONS:
        raise ConfigError(f"{where} {value!r}: choose {', '.join(PRECISIONS[:-1])} or {PRECISIONS[-1]}")
    return value


def resolve_precision(requested: str, device: torch.device | str) -> str:
    """``fp32`` or ``bf16`` for a model running on ``device``.

    ``auto`` is decided once per device type for the process (``auto_precision``) and the
    decision logged with its reason; ``fp32`` and ``bf16`` are returned as given (bf16 on
    hardware without fast bf16 still runs, only slower).

    Example:
        >>> resolve_precision("auto", torch.device("cpu"))  # on a CPU with AMX
        'bf16'
    """
    check_precision(requested)
    if requested != "auto":
        return requested
    return auto_precision(torch.device(device).type)[0]


@functools.lru_cache(maxsize=None)
def auto_precision(device_type: str) -> tuple[str, str]:
    """(precision, reason) that ``auto`` means on a device of this type; logged the first time."""
    precision, reason = _decide(device_type)
    log.info("precision auto: %s (%s)", precision, reason)
    return precision, reason


def _decide(device_type: str) -> tuple[str, str]:
    if device_type == "cuda":
        if _cuda_has_bf16():
            return "bf16", "the GPU supports bf16"
        return "fp32", "the GPU has no native bf16"
    if device_type == "cpu":
        if cpu_has_amx():
            return "bf16", "CPU has AMX"
        speedup = bf16_matmul_speedup()
        verdict = "bf16" if speedup >= PROBE_MIN_SPEEDUP else "fp32"
        return verdict, f"bf16 matmul {speedup:.1f}x the speed of fp32 on this CPU"
    # MPS's bf16 autocast is neither reliably faster nor complete across torch versions.
    return "fp32", f"bf16 is not chosen automatically on {device_type}"


def _cuda_has_bf16() -> bool:
    try:  # emulated bf16 (pre-Ampere GPUs) is slower than float32, so it does not count
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch before 2.3 has no including_emulation and reports native support only
        return bool(torch.cuda.is_bf16_supported())


def cpu_has_amx() -> bool:
    """Whether the CPU has AMX tiles, which multiply bf16 matrices (older torch cannot tell: False)."""
    supported = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(supported()) if supported is not None else False


def bf16_matmul_speedup() -> float:
    """How many times faster a bf16 matrix product runs than a float32 one on this CPU.

    Each dtype is warmed up once, then timed ``PROBE_REPEATS`` times and the fastest kept: 4 ms
    in all on a CPU with AMX, about 50 ms on one that multiplies bf16 at 40 GFLOP/s.
    """
    rows, inner, columns = PROBE_SHAPE
    generator = torch.Generator().manual_seed(0)
    left, right = torch.randn(rows, inner, generator=generator), torch.randn(inner, columns, generator=generator)
    fastest = {}
    with torch.inference_mode():
        for dtype in (torch.float32, torch.bfloat16):
            a, b = left.to(dtype), right.to(dtype)
            torch.mm(a, b)  # warm-up: first-call allocation and kernel selection
            times = []
            for _ in range(PROBE_REPEATS):
                started = time.perf_counter()
                torch.mm(a, b)
                times.append(time.perf_counter() - started)
            fastest[dtype] = min(times)
    return fastest[torch.float32] / max(fastest[torch.bfloat16], 1e-9)
