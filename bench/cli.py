"""``python -m bench``: every benchmark in one command, a table on screen and JSON on disk.

    python -m bench --quick          # seconds: shipped model under LiteRT, a small stick and region
    python -m bench                  # full: every interpreter x model x 1/2/4 threads,
                                     # sticks of 100/1,000/10,000 patches,
                                     # regions of 1/4/16/60 MP, 10,000 database/PDF rows
    python -m bench --sticks 1000 --regions 16 --skip inference storage   # a selection

Each measurement runs in a child process (its own peak RSS, no TensorFlow in the parent). The
full run prints its time estimate before it starts. On a Raspberry Pi (``/proc/device-tree/model``
or ``--on-pi``) the same tables are measured there and the paper estimate is left out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import socket
import sys
import time
from pathlib import Path

from bench import data, e2e, inference, pi, storage
from bench.report import Machine, Results, render

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ROOT / "build" / "bench" / "inputs"
INTERPRETERS = ("litert", "tflite-runtime", "tensorflow")
SHARED_NOTE = (
    "Shared machine, loaded by other work during the run: read ratios, not absolute times."
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI smoke run (seconds)")
    parser.add_argument("--out", type=Path, help="JSON path (bench/results/<host>-<date>.json)")
    parts = ("inference", "keras", "e2e", "storage", "pi")
    parser.add_argument("--skip", nargs="*", default=[], choices=parts)
    parser.add_argument("--interpreters", nargs="+", choices=INTERPRETERS)
    parser.add_argument("--models", nargs="+", choices=("shipped", "reference", "presets"))
    parser.add_argument("--presets", nargs="+", help="only these presets (default: all)")
    parser.add_argument("--threads", type=int, nargs="+", help="inference thread counts")
    parser.add_argument("--runs", type=int, help="timed passes per row (after warm-up)")
    parser.add_argument("--sticks", type=int, nargs="*", help="stick sizes in patches")
    parser.add_argument("--regions", type=float, nargs="*", help="region sizes in megapixels")
    parser.add_argument("--rows", type=int, nargs="*", help="database/PDF sizes in rows")
    parser.add_argument("--e2e-threads", type=int, help="interpreter threads of the scans")
    parser.add_argument("--on-pi", action="store_true", help="label the run as measured on a Pi")
    parser.add_argument("--note", default=None, help="what the machine was doing (in the JSON)")
    parser.add_argument("--yes", action="store_true", help="do not pause after the estimate")
    parser.add_argument(
        "--update",
        type=Path,
        help="start from this results JSON: the parts run now replace its, the rest are kept",
    )
    parser.add_argument(
        "--render", type=Path, help="print the tables of a results JSON (Pi estimate redone)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.interpreters = args.interpreters or (["litert"] if quick else list(INTERPRETERS))
    args.models = args.models or (["shipped"] if quick else ["shipped", "reference", "presets"])
    args.threads = args.threads or ([1] if quick else [1, 2, 4])
    args.runs = args.runs or (10 if quick else 30)
    if args.sticks is None:
        args.sticks = [20] if quick else [100, 1000, 10000]
    if args.regions is None:
        args.regions = [0.25] if quick else [1, 4, 16, 60]
    if args.rows is None:
        args.rows = [100] if quick else [10000]
    if quick:
        args.skip = [*args.skip, "keras"]
    return args


def shipped_pass_ms(threads: int) -> float:
    """A quick in-process median of one LiteRT pass of the shipped model (for the estimate)."""
    result = inference.run_runner(
        sys.executable, "litert", [inference.shipped_subject()], [threads], 15, 3, 2.0
    )
    samples = result.get("rows", [{}])[0].get("samples_ms") or [20.0]
    return sorted(samples)[len(samples) // 2]


def estimate_s(args: argparse.Namespace, pass_ms: float, views: int) -> float:
    """Seconds the run should take here (rough: the pipeline at ~0.8 of the floor, tissue ~80 %)."""
    total = 0.0
    if "inference" not in args.skip:
        n_models = 1 + 2 * ("reference" in args.models) + 6 * ("presets" in args.models)
        total += len(args.interpreters) * n_models * len(args.threads) * (2 + min(10, args.runs))
        if "presets" in args.models and not (ROOT / "build/bench/presets").exists():
            total += 600  # the first export of every preset
    if "keras" not in args.skip:
        total += len(args.threads) * 15
    if "e2e" not in args.skip:
        per_unit = views * pass_ms / 1000.0 / 0.8
        total += sum(n * per_unit for n in args.sticks)
        total += sum(mp * 1e6 / 2500 * 0.8 * per_unit for mp in args.regions)
    if "storage" not in args.skip:
        total += sum(rows * 0.003 for rows in args.rows)
    return total


def run_inference(args: argparse.Namespace, results: Results, log) -> None:
    subjects: list[inference.Subject] = []
    if "shipped" in args.models:
        subjects.append(inference.shipped_subject())
    if "reference" in args.models:
        subjects += inference.reference_subjects()
    if "presets" in args.models:
        subjects += inference.preset_subjects(args.presets, log)
    labels = {str(s.path): s.label for s in subjects}
    outputs = []
    for name in args.interpreters:
        python: Path | str | None = sys.executable
        if name == "tflite-runtime":
            python = inference.tflite_runtime_python(log)
            if python is None:
                results.problems.append("tflite-runtime: no venv (offline?); not timed")
                continue
        log(f"inference: {name} x {len(subjects)} models x threads {args.threads}")
        outputs.append(inference.run_runner(python, name, subjects, args.threads, args.runs, 5))
    if "keras" not in args.skip and "shipped" in args.models:
        log(f"inference: float Keras model x threads {args.threads}")
        float_model = inference.SHIPPED / "float_model.keras"
        keras_runs = inference.run_keras(float_model, args.threads, min(args.runs, 20), 3)
        for output in keras_runs:
            for row in output.get("rows", []):
                labels[row["model"]] = inference.shipped_subject().label
        outputs += keras_runs
    results.inference = inference.to_rows(outputs, labels, results.problems.append)
    results.ops = [inference.count_macs(s) for s in subjects]


def run_e2e(args: argparse.Namespace, results: Results, threads: int, log, save) -> None:
    source = data.patch_source()
    results.patch_source = source.origin
    for count in args.sticks:
        stick = data.make_stick(INPUTS / f"stick-{count}", count, source)
        log(f"e2e: stick of {count:,} patches")
        outcome = e2e.run_case(f"stick {count:,}", "stick", stick, threads=threads)
        _keep(outcome, results.e2e, results.problems)
        save()
    for megapixels in args.regions:
        mp = int(megapixels) if float(megapixels).is_integer() else megapixels
        folder = data.make_region(INPUTS / f"region-{mp}mp", mp, source)
        log(f"e2e: region of {mp} MP")
        outcome = e2e.run_case(f"region {mp} MP", "region", folder, threads=threads)
        _keep(outcome, results.e2e, results.problems)
        save()


def _keep(outcome, into: list, problems: list[str]) -> None:
    if isinstance(outcome, str):
        problems.append(outcome)
    else:
        into.append(outcome)


def run_pi(results: Results, views: int) -> None:
    """The paper estimate for every timed model, and the scans it implies for the shipped one."""
    litert = [r for r in results.inference if r.interpreter == "litert" and r.threads == 1]
    cpus = results.machine.cpus
    by_model = {r.model: r.median_ms for r in litert}
    refs = [ms for m, ms in by_model.items() if m.startswith("ref ") and "(int8)" in m]
    reference = refs[0] if refs else None
    for ops in results.ops:
        ratio = None
        if reference is not None and ops.model in by_model:
            ratio = by_model[ops.model] / reference
        all_cores = [
            r.median_ms
            for r in results.inference
            if r.model == ops.model and r.interpreter == "litert" and r.threads == cpus
        ]
        x86_ms = all_cores[0] if all_cores else None
        results.pi_estimates.append(pi.estimate(ops.model, ops.macs, ratio, x86_ms))
    shipped = next((e for e in results.pi_estimates if e.model.endswith("(shipped)")), None)
    if shipped is None:
        return
    candidates = [shipped.by_ops_range_ms[0], shipped.by_ops_range_ms[1]]
    if shipped.by_ratio_ms is not None:
        candidates.append(shipped.by_ratio_ms)
    sticks = [r for r in results.e2e if r.kind == "stick"]
    # The pipeline's overhead from the stick nearest 1,000 patches (tiny sticks are startup).
    nearest = min(sticks, key=lambda r: abs(math.log(max(r.units, 1) / 1000)), default=None)
    ratio = 1.0
    if nearest is not None:  # the CPU ratio is steadier than wall time on a shared machine
        cpu = nearest.cpu_ratio_to_floor
        ratio = cpu if math.isfinite(cpu) and 0 < cpu <= 1 else nearest.ratio_to_floor
    units = {"1 patch": 1, "stick of 500 patches": 500, "stick of 1,000 patches": 1000}
    regions = [r for r in results.e2e if r.kind == "region"]
    units |= {f"{r.case} ({r.units:,} tissue tiles)": r.units for r in regions}
    results.pi_scans = pi.scans((min(candidates), max(candidates)), views, ratio, units)


def _carry_over(previous: Results, results: Results, skipped: list[str]) -> None:
    """Keep the parts of an earlier run that this run skips (e.g. redo only the scans)."""
    if "inference" in skipped:
        results.inference, results.ops = previous.inference, previous.ops
    if "e2e" in skipped:
        results.e2e, results.patch_source = previous.e2e, previous.patch_source
    if "storage" in skipped:
        results.storage = previous.storage
    kept = [part for part in ("inference", "e2e", "storage") if part in skipped]
    results.problems.append(f"kept from the run of {previous.date}: {', '.join(kept)}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.render is not None:
        results = Results.load(args.render)
        if not results.machine.pi_model and "pi" not in args.skip:
            results.pi_estimates, results.pi_scans = [], []
            run_pi(results, 8)
        print(render(results))
        return 0
    started = time.perf_counter()
    pi_model = pi.on_pi() or ("Raspberry Pi (--on-pi)" if args.on_pi else None)
    threads = args.e2e_threads or (4 if pi_model else 2)
    log = lambda message: print(f"[bench] {message}", file=sys.stderr, flush=True)  # noqa: E731
    views = 8  # dihedral8, the shipped card's test-time augmentation
    pass_ms = shipped_pass_ms(threads)
    guess = estimate_s(args, pass_ms, views)
    log(f"one pass of the shipped model here: {pass_ms:.1f} ms at {threads} threads")
    mode = "quick" if args.quick else "full"
    log(f"estimated time of this run: {guess / 60:.1f} min ({mode} mode)")
    if not args.quick and not args.yes and guess > 300 and sys.stdin.isatty():
        input("[bench] Enter to start, Ctrl-C to stop (or pass --yes) ")
    now = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()
    results = Results(
        mode=mode,
        date=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        machine=Machine(
            socket.gethostname(),
            platform.platform(),
            os.cpu_count() or 0,
            platform.python_version(),
            load_before,
            load_before,
            pi_model,
            args.note or ("" if pi_model else SHARED_NOTE),
        ),
    )
    if args.update is not None:
        _carry_over(Results.load(args.update), results, args.skip)
    out = args.out or ROOT / "bench" / "results" / f"{results.machine.host}-{now:%Y%m%d-%H%M}.json"
    # The JSON is rewritten after every part, so a long run stopped midway keeps what it measured.
    if "inference" not in args.skip:
        run_inference(args, results, log)
        results.write(out)
    if "e2e" not in args.skip:
        run_e2e(args, results, threads, log, lambda: results.write(out))
    for rows in [] if "storage" in args.skip else args.rows:
        log(f"storage: {rows:,} rows")
        _keep(storage.run(rows), results.storage, results.problems)
    if "pi" not in args.skip and not pi_model:
        run_pi(results, views)
    results.machine = Machine(**{**results.machine.__dict__, "load_after": os.getloadavg()})
    results.seconds = time.perf_counter() - started
    results.write(out)
    print(render(results))
    print(f"\nJSON: {out}")
    return 0
