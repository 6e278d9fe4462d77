"""A Raspberry Pi 4 estimate on paper, and whether we are on a Pi now.

Two independent estimates of one int8 pass on a Pi 4, both anchored on a published figure for the
reference model (MobileNetV2 1.0 at 224 px, int8, ~300 M MACs):

- **by op count**: ``Pi ms = MACs(model) / MACs(reference) x anchor``. Assumes the Pi runs every
  model at the reference's MACs per second (int8, XNNPACK, 4 threads). Dense convolutions (ResNets,
  WRN) usually reach more MACs/s than MobileNet's depthwise layers, so for them it errs slow; small
  inputs (96 px) leave fewer rows per thread, so for them it errs fast.
- **by measured ratio**: ``Pi ms = x86 ms(model) / x86 ms(reference) x anchor``, both timed here by
  the same interpreter at the same thread count in the same run. Assumes the x86 and the Cortex-A72
  kernels find the two models equally hard.

Anchors (published, see docs/performance.md for the citations), per pass, int8 MobileNetV2 1.0 224:

- XNNPACK's README (google/XNNPACK, benchmarked Feb 8 2022, ``end2end-bench``, random weights,
  per-channel int8, multi-threaded = 4 threads): Pi 4 (BCM2711, 1.5 GHz) 20 ms on 32-bit
  Raspbian, 17 ms on ARM64.
- Q-engineering's TensorFlow Lite classification demo (C++, 64-bit OS, Pi 4 overclocked to
  1.95 GHz): MobileNetV2 at 45.5 FPS = 22 ms per frame including its own pre- and
  post-processing; scaled to the stock 1.5 GHz clock, 22 x 1.95 / 1.5 = 28.6 ms. Taken as the
  slow end (it does not say whether the model is int8).

Pi 4 boards made since 2020 (BCM2711 C0) run at 1.8 GHz, about 1.2x the 1.5 GHz of both anchors
and of the seed paper's board: the estimates below are for 1.5 GHz and err slow on those.

The seed paper's appliance (int8 WRN-28-2, Pi 4 1 GB, Cortex-A72 1.5 GHz): 1,065 ms per image,
115 ms on an Intel i5 (its Table 6), a factor of 9.3 between the two machines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REFERENCE_MACS = 300_775_552  # counted from mobilenet_v2_1.0_224_quant.tflite by bench.inference
ANCHOR_MS = 17.0  # XNNPACK README, Pi 4 ARM64, INT8 MobileNet v2 1.0X, 4 threads
ANCHOR_RANGE_MS = (17.0, 28.6)  # XNNPACK ARM64 .. Q-engineering at 1.5 GHz, end to end
# Assumed: 1 thread is 3.2x slower than 4 on the A72's 4 cores (XNNPACK scales 3-3.5x on 4 big
# cores for MobileNets; the README gives only the 4-thread figure).
ONE_THREAD_FACTOR = 3.2
SEED_PI_MS = 1065.0
SEED_I5_MS = 115.0
SEED_FACTOR = SEED_PI_MS / SEED_I5_MS


@dataclass(frozen=True)
class PiEstimate:
    """One model's estimated int8 pass on a Pi 4 (4 threads), by the two methods."""

    model: str
    macs: int
    by_ops_ms: float
    by_ops_range_ms: tuple[float, float]
    by_ratio_ms: float | None  # None when the reference was not timed in this run
    one_thread_ms: float  # by op count, one thread
    # This machine's LiteRT median (all its cores) times the seed paper's Pi:i5 factor of 9.3: a
    # crude upper bound (the seed's pipeline is unknown, and likely without int8 XNNPACK).
    by_seed_factor_ms: float | None = None


@dataclass(frozen=True)
class PiScan:
    """What one scan would take on a Pi 4, from the shipped model's estimated pass."""

    work: str
    passes: int
    seconds_low: float
    seconds_high: float


def on_pi() -> str | None:
    """The board's model string when running on a Raspberry Pi, else None."""
    path = Path("/proc/device-tree/model")
    try:
        model = path.read_bytes().rstrip(b"\0").decode("ascii", "replace")
    except OSError:
        return None
    return model if "Raspberry Pi" in model else None


def estimate(
    model: str, macs: int, x86_ratio_to_reference: float | None, x86_ms: float | None = None
) -> PiEstimate:
    scale = macs / REFERENCE_MACS
    return PiEstimate(
        model=model,
        macs=macs,
        by_ops_ms=scale * ANCHOR_MS,
        by_ops_range_ms=(scale * ANCHOR_RANGE_MS[0], scale * ANCHOR_RANGE_MS[1]),
        by_ratio_ms=None if x86_ratio_to_reference is None else x86_ratio_to_reference * ANCHOR_MS,
        one_thread_ms=scale * ANCHOR_MS * ONE_THREAD_FACTOR,
        by_seed_factor_ms=None if x86_ms is None else x86_ms * SEED_FACTOR,
    )


def scans(pass_ms: tuple[float, float], views: int, ratio_to_floor: float, units: dict[str, int]):
    """Seconds for each ``work`` (name -> units that reach the model), from a pass range; the
    pipeline's measured ratio to the floor scales the inference-only time up."""
    low, high = pass_ms
    efficiency = ratio_to_floor if 0 < ratio_to_floor <= 1 else 1.0
    return [
        PiScan(
            work=name,
            passes=count * views,
            seconds_low=count * views * low / 1000.0 / efficiency,
            seconds_high=count * views * high / 1000.0 / efficiency,
        )
        for name, count in units.items()
    ]
