"""The benchmark's results as one typed value, its JSON file and its tables (Markdown pipe tables,
readable on a terminal and pasted as they are into docs/performance.md). Ratios come first in
every table; absolute times follow and are labelled with the machine they came from."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.e2e import ScanResult
from bench.inference import LatencyRow, ModelOps
from bench.pi import SEED_FACTOR, SEED_I5_MS, SEED_PI_MS, PiEstimate, PiScan
from bench.storage import StorageResult

SCHEMA = 1


@dataclass(frozen=True)
class Machine:
    host: str
    platform: str
    cpus: int
    python: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    pi_model: str | None  # /proc/device-tree/model on a Pi, else None
    note: str  # e.g. "shared, loaded by other work": read ratios, not absolute times


@dataclass
class Results:
    mode: str  # "quick" or "full"
    date: str
    machine: Machine
    patch_source: str = ""
    inference: list[LatencyRow] = field(default_factory=list)
    ops: list[ModelOps] = field(default_factory=list)
    e2e: list[ScanResult] = field(default_factory=list)
    storage: list[StorageResult] = field(default_factory=list)
    pi_estimates: list[PiEstimate] = field(default_factory=list)
    pi_scans: list[PiScan] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    schema: int = SCHEMA

    @classmethod
    def load(cls, path: Path) -> Results:
        """A results file read back (to re-render it, or to redo the Pi estimate)."""
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        machine = raw.pop("machine")
        machine["load_before"] = tuple(machine["load_before"])
        machine["load_after"] = tuple(machine["load_after"])
        kinds = {
            "inference": LatencyRow,
            "ops": ModelOps,
            "e2e": ScanResult,
            "storage": StorageResult,
            "pi_estimates": PiEstimate,
            "pi_scans": PiScan,
        }
        lists = {key: [kind(**row) for row in raw.pop(key, [])] for key, kind in kinds.items()}
        for ops in lists["ops"]:
            object.__setattr__(ops, "input_shape", tuple(ops.input_shape))
        for estimate in lists["pi_estimates"]:
            object.__setattr__(estimate, "by_ops_range_ms", tuple(estimate.by_ops_range_ms))
        return cls(machine=Machine(**machine), **lists, **raw)

    def to_json(self) -> dict:
        return asdict(self)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=1, allow_nan=True)
        path.write_text(text + "\n", encoding="utf-8")
        return path


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def _f(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _digits(value: float) -> int:
    return 2 if value < 1 else 1


def inference_table(rows: list[LatencyRow]) -> str:
    ordered = sorted(rows, key=lambda r: (r.model, r.ratio))
    return _table(
        ["model", "interpreter", "threads", "× fastest", "median ms", "p95 ms", "load ms"],
        [
            [
                r.model,
                f"{r.interpreter} {r.version}".strip(),
                str(r.threads),
                _f(r.ratio, 2),
                _f(r.median_ms, 2),
                _f(r.p95_ms, 2),
                _f(r.load_ms, 0),
            ]
            for r in ordered
        ],
    )


def summary_table(rows: list[LatencyRow]) -> str:
    """One line per model: each interpreter's best thread count, as a ratio to the fastest."""
    interpreters = sorted({r.interpreter for r in rows}, key=lambda i: (i.startswith("keras"), i))
    models = sorted({r.model for r in rows}, key=lambda m: (not m.endswith("(shipped)"), m))
    lines = []
    for model in models:
        mine = [r for r in rows if r.model == model]
        fastest = min(mine, key=lambda r: r.median_ms)
        cells = [model, f"{fastest.median_ms:,.2f} ({fastest.interpreter}, {fastest.threads} thr)"]
        for interpreter in interpreters:
            theirs = [r for r in mine if r.interpreter == interpreter]
            best = min(theirs, key=lambda r: r.median_ms, default=None)
            cells.append("—" if best is None else f"{best.ratio:,.2f} ({best.threads})")
        lines.append(cells)
    header = ["model", "fastest ms/pass (here)", *(f"{i} × (threads)" for i in interpreters)]
    return _table(header, lines)


def ops_table(ops: list[ModelOps]) -> str:
    return _table(
        ["model", "input", "MMACs / pass", "file MB"],
        [
            [o.model, "x".join(map(str, o.input_shape[1:3])), _f(o.macs / 1e6, 0), _f(o.file_mb, 1)]
            for o in ops
        ],
    )


def e2e_table(rows: list[ScanResult]) -> str:
    return _table(
        [
            "case",
            "ratio to floor",
            "CPU ratio",
            "units/s",
            "units",
            "wall s",
            "floor s",
            "peak RSS MB",
            "threads",
            "status",
        ],
        [
            [
                r.case,
                _f(r.ratio_to_floor, 2),
                _f(r.cpu_ratio_to_floor, 2),
                _f(r.units_per_s, 1),
                f"{r.units:,} {'tiles' if r.kind == 'region' else 'images'}",
                _f(r.wall_s, 1),
                _f(r.floor_s, 1),
                _f(r.peak_rss_mb, 0),
                str(r.threads),
                r.status,
            ]
            for r in rows
        ],
    )


def storage_table(rows: list[StorageResult]) -> str:
    return _table(
        [
            "rows",
            "write ms/row",
            "one per transaction",
            "list scans ms",
            "search ms",
            "images of scan ms",
            "DB MB",
            "PDF s",
            "PDF ms/row",
            "PDF MB",
            "peak RSS MB",
        ],
        [
            [
                f"{r.rows:,}",
                _f(r.write_ms_per_row, 2),
                _f(r.write_ms_per_row_unbatched, 2),
                _f(r.list_scans_ms, 1),
                _f(r.search_ms, 1),
                _f(r.images_of_scan_ms, 0),
                _f(r.db_mb, 1),
                _f(r.pdf_s, 1),
                _f(r.pdf_ms_per_row, 2),
                _f(r.pdf_mb, 1),
                _f(r.peak_rss_mb, 0),
            ]
            for r in rows
        ],
    )


def pi_tables(results: Results) -> str:
    estimates = _table(
        [
            "model",
            "MMACs",
            "Pi 4 ms/pass by ops (range)",
            "by x86 ratio",
            "1 thread by ops",
            "x86 × seed factor 9.3",
        ],
        [
            [
                e.model,
                _f(e.macs / 1e6, 0),
                f"{_f(e.by_ops_ms)} ({_f(e.by_ops_range_ms[0])}–{_f(e.by_ops_range_ms[1])})",
                _f(e.by_ratio_ms),
                _f(e.one_thread_ms),
                _f(e.by_seed_factor_ms),
            ]
            for e in results.pi_estimates
        ],
    )
    scans = _table(
        ["work on a Pi 4 (4 threads)", "passes", "seconds (estimate)"],
        [
            [
                s.work,
                f"{s.passes:,}",
                f"{_f(s.seconds_low, _digits(s.seconds_low))}–"
                f"{_f(s.seconds_high, _digits(s.seconds_high))}",
            ]
            for s in results.pi_scans
        ],
    )
    seed = (
        f"Seed paper (int8 WRN-28-2): {SEED_PI_MS:,.0f} ms per image on a Pi 4, {SEED_I5_MS:.0f} ms"
        f" on an Intel i5 (factor {SEED_FACTOR:.1f})."
    )
    return f"{estimates}\n\n{scans}\n\n{seed}"


def render(results: Results) -> str:
    m = results.machine
    where = m.pi_model or f"{m.platform}, {m.cpus} CPUs"
    parts = [
        f"# bench ({results.mode}) on {m.host}: {where}, {results.date}",
        f"load average before {m.load_before[0]:.2f}, after {m.load_after[0]:.2f}. {m.note}",
    ]
    if results.patch_source:
        parts.append(f"inputs: {results.patch_source}")
    if results.inference:
        parts += [
            "\n## Inference: one pass, each interpreter at its best thread count",
            summary_table(results.inference),
            "\n## Inference: one pass, ratio to the fastest run of the same model",
            inference_table(results.inference),
        ]
    if results.ops:
        parts += ["\n## Operations per pass (counted from the .tflite graph)"]
        parts.append(ops_table(results.ops))
    if results.e2e:
        parts += [
            "\n## End to end (Analyzer.scan), ratio = inference-only floor / scan (wall; CPU)",
            e2e_table(results.e2e),
        ]
    if results.storage:
        parts += ["\n## Database and PDF", storage_table(results.storage)]
    if results.pi_estimates:
        title = "measured on this Pi" if m.pi_model else "on paper"
        parts += [f"\n## Raspberry Pi 4 estimate ({title})", pi_tables(results)]
    if results.problems:
        parts += ["\n## Problems", *(f"- {p}" for p in results.problems)]
    parts.append(f"\n(took {results.seconds:.0f} s)")
    return "\n".join(parts)
