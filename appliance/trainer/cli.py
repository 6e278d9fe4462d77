"""``histo-appliance-train``: train, evaluate and export a model bundle from the command line.

One run writes a bundle (``model.tflite`` + ``card.json``) plus its ``config.json``, the float
model, plots and checkpoints. ``--kfold K`` runs patient-wise cross-validation instead: one bundle
per fold under ``OUTPUT/fold-N`` and ``OUTPUT/cv-summary.json`` (mean ± SD over folds).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.preprocess import TEST_TIME_AUGMENTATIONS
from appliance.stain import STAIN_METHODS

LAYOUTS = ("idc", "folders", "breakhis", "bach", "bach-binary")


def _presets_help() -> str:
    """Every preset with its recipe, for --help (the registry needs the 'train' extra)."""
    try:
        from appliance.trainer.presets import PRESETS
    except ImportError:
        return "presets: install the 'train' extra to list them"
    return "presets:\n" + "\n".join(f"  {p.name:22s} {p.description}" for p in PRESETS.values())


def _size(text: str) -> tuple[int, int]:
    """``96`` or ``96x144`` (height x width)."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 96 or 96x144") from None
    if len(values) == 1:
        return (values[0], values[0])
    if len(values) == 2:
        return (values[0], values[1])
    raise argparse.ArgumentTypeError(f"{text!r} is not a size like 96 or 96x144")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="histo-appliance-train",
        description="Train a histopathology classifier with a patient-wise split and export an"
        " int8 bundle (model.tflite + card.json) the appliance can load.",
        epilog=_presets_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run = parser.add_argument_group("run")
    run.add_argument("--data", type=Path, help="dataset root")
    run.add_argument("--output", type=Path, help="bundle directory to write")
    run.add_argument(
        "--config",
        type=Path,
        help="repeat an earlier run from its config.json (--output may move it)",
    )
    run.add_argument("--resume", action="store_true", help="continue an interrupted run")
    run.add_argument(
        "--from-float",
        type=Path,
        help="skip fitting and export/evaluate the float model of this earlier run folder",
    )
    run.add_argument("--name", default="idc-mobilenetv2")
    run.add_argument("--version", default="1.0.0")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG plots")

    model = parser.add_argument_group("model")
    model.add_argument("--preset", default="mobilenetv2", help="architecture (listed below)")
    model.add_argument(
        "--weights", type=Path, help="local ImageNet weights for the backbone; none = scratch"
    )
    model.add_argument("--alpha", type=float, default=1.0, help="MobileNet width")
    model.add_argument("--input-size", type=_size, help="96 or HxW; default: the preset's")
    model.add_argument("--input-mode", choices=["tiled", "whole"], help="default: tiled for IDC")
    model.add_argument("--tile-size", type=int, default=50)

    data = parser.add_argument_group("data")
    data.add_argument("--layout", choices=LAYOUTS, default="idc")
    data.add_argument("--classes", nargs="+", default=["0", "1"], help="class folder names")
    data.add_argument("--labels", nargs="+", help="class names (default: the layout's)")
    data.add_argument("--malignant-label", help="default: the layout's")
    data.add_argument("--patient-pattern", default=r"^(?P<patient>[^_]+)_")
    data.add_argument("--magnifications", nargs="+", type=int, help="BreakHis: train on these")
    data.add_argument(
        "--test-magnifications", nargs="+", type=int, help="BreakHis: test on these (cross-mag.)"
    )
    data.add_argument(
        "--augmentation",
        default="light",
        help="light, stain (+HED), paper (the seeds' ranges) or none",
    )
    data.add_argument(
        "--stain-normalize",
        choices=STAIN_METHODS,
        help="normalise every image to a target from training patients (the appliance does too)",
    )
    data.add_argument("--limit-per-patient", type=int, help="smoke tests: cap images per patient")
    data.add_argument(
        "--synthetic",
        type=Path,
        metavar="DIR",
        help="a 'gan generate' folder (DIR/<class index>/*.png): its images join the TRAINING"
        " part only (never validation, test, the int8 representative set or the thresholds)",
    )
    data.add_argument(
        "--synthetic-ratio",
        type=float,
        default=1.0,
        metavar="R",
        help="synthetic images added per real TRAINING image of each class DIR holds, e.g."
        " R=0.5 with 1,780 real training positives adds 890; refused if DIR holds fewer",
    )

    split = parser.add_argument_group("split")
    split.add_argument("--seed", type=int, default=42, help="the patient split (and the init seed)")
    split.add_argument(
        "--split",
        nargs=3,
        type=float,
        default=[0.7, 0.15, 0.15],
        metavar=("TRAIN", "VAL", "TEST"),
        help="patient fractions (with --kfold: train/val share of the other folds)",
    )
    split.add_argument("--kfold", type=int, help="patient-wise k-fold cross-validation")
    split.add_argument("--folds", nargs="+", type=int, help="with --kfold: only these folds")
    split.add_argument(
        "--threshold-folds",
        type=int,
        help="choose thresholds on out-of-fold scores of K patient folds of train+validation,"
        " then fit the final model on all of them",
    )
    split.add_argument(
        "--image-wise",
        action="store_true",
        help="the seed papers' image-wise split: LEAKS patients into test; for comparison only",
    )

    fit = parser.add_argument_group("fit")
    fit.add_argument("--head-epochs", type=int, default=2, help="warm-up before fine-tuning")
    fit.add_argument(
        "--epochs", "--finetune-epochs", dest="epochs", type=int, help="default: the preset's"
    )
    fit.add_argument("--batch-size", type=int, help="default: the preset's")
    fit.add_argument(
        "--ensemble",
        type=int,
        default=1,
        metavar="N",
        help="fit N members (seeds SEED..SEED+N-1) and export their average as one model;"
        " N times the inference time",
    )
    fit.add_argument(
        "--init-seed",
        type=int,
        metavar="N",
        help="the model's initial weights, shuffling and augmentation (ensemble members"
        " N..N+M-1), the patient split kept; default: --seed",
    )
    fit.add_argument(
        "--test-time-augmentation",
        choices=["auto", *TEST_TIME_AUGMENTATIONS],
        default="auto",
        help="views averaged per input; auto = the better on validation patients",
    )
    fit.add_argument("--representative", type=int, default=300, help="int8 calibration images")
    fit.add_argument(
        "--strategy",
        choices=["default", "mirrored", "multiworker"],
        default="default",
        help="tf.distribute: one device, local GPUs, or the machines in TF_CONFIG",
    )
    honest = parser.add_argument_group("calibration")
    honest.add_argument(
        "--calibration",
        choices=["none", "temperature", "isotonic"],
        default="none",
        help="map the malignant probability to a calibrated one, fitted on validation or"
        " out-of-fold patients; carried in the card, thresholds on the calibrated scale",
    )
    add_band_options(honest)
    return parser


def add_band_options(group) -> None:
    """How the refer band is chosen (TrainConfig.band_rule): shared by train and distill."""
    group.add_argument(
        "--band-rule",
        choices=["safety", "decided"],
        default="safety",
        help="the refer band: safety = widened to --band-sensitivity/--band-specificity (1.3.0);"
        " decided = decide the most validation images keeping the decided ones at"
        " --decided-sensitivity and --decided-balanced-accuracy",
    )
    group.add_argument("--band-sensitivity", type=float, default=0.97)
    group.add_argument("--band-specificity", type=float, default=0.90)
    group.add_argument("--decided-sensitivity", type=float, default=0.95)
    group.add_argument("--decided-balanced-accuracy", type=float, default=0.88)


def band_fields(args: argparse.Namespace) -> dict:
    """TrainConfig's band fields from :func:`add_band_options`' arguments."""
    return {
        "band_rule": args.band_rule,
        "band_sensitivity": args.band_sensitivity,
        "band_specificity": args.band_specificity,
        "decided_sensitivity": args.decided_sensitivity,
        "decided_balanced_accuracy": args.decided_balanced_accuracy,
    }


def config_from_args(args: argparse.Namespace):
    from appliance.trainer.train import TrainConfig

    if args.config:
        overrides = {"resume": args.resume}
        if args.output:
            overrides["output"] = args.output
        return TrainConfig.from_json(args.config, **overrides)
    if args.data is None or args.output is None:
        raise SystemExit("histo-appliance-train: --data and --output are required (or --config)")
    return TrainConfig(
        data=args.data,
        output=args.output,
        preset=args.preset,
        weights=args.weights,
        layout=args.layout,
        classes=tuple(args.classes),
        label_names=tuple(args.labels) if args.labels else None,
        malignant_label=args.malignant_label,
        patient_pattern=args.patient_pattern,
        magnifications=tuple(args.magnifications) if args.magnifications else None,
        test_magnifications=tuple(args.test_magnifications) if args.test_magnifications else None,
        alpha=args.alpha,
        input_size=args.input_size,
        input_mode=args.input_mode,
        tile_size=args.tile_size,
        head_epochs=args.head_epochs,
        epochs=args.epochs,
        batch_size=args.batch_size,
        augmentation=args.augmentation,
        stain_normalization=args.stain_normalize,
        split=tuple(args.split),
        kfold=args.kfold,
        image_wise=args.image_wise,
        threshold_folds=args.threshold_folds,
        seed=args.seed,
        init_seed=args.init_seed,
        name=args.name,
        version=args.version,
        limit_per_patient=args.limit_per_patient,
        test_time_augmentation=args.test_time_augmentation,
        representative=args.representative,
        ensemble=args.ensemble,
        from_float=args.from_float,
        resume=args.resume,
        plots=not args.no_plots,
        extra={"calibration": args.calibration} if args.calibration != "none" else {},
        strategy=args.strategy,
        synthetic=args.synthetic,
        synthetic_ratio=args.synthetic_ratio,
        **band_fields(args),
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "gan":  # histo-appliance-train gan train|generate|fid
        from appliance.trainer.gan.cli import main as gan_main

        return gan_main(argv[1:])
    args = build_parser().parse_args(argv)
    # TensorFlow is imported only now, so --help works without the 'train' extra.
    try:
        from appliance.trainer.crossval import run_kfold
        from appliance.trainer.train import run
    except ImportError as exc:
        raise SystemExit(
            f"the trainer needs TensorFlow: pip install 'histo-appliance[train]' ({exc})"
        ) from exc
    try:
        config = config_from_args(args)
        if config.kfold and not args.config:  # a saved config.json is one run (one fold)
            run_kfold(config, args.folds)
        else:
            run(config)
    except (ValueError, FileNotFoundError) as exc:
        print(f"histo-appliance-train: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
