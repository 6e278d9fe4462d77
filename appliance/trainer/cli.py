"""``histo-appliance-train``: train, evaluate and export a model bundle from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="histo-appliance-train",
        description="Train a histopathology classifier with a patient-wise split and export an"
        " int8 bundle (model.tflite + card.json) the appliance can load.",
    )
    parser.add_argument("--data", type=Path, required=True, help="dataset root")
    parser.add_argument("--output", type=Path, required=True, help="bundle directory to write")
    parser.add_argument(
        "--weights", type=Path, help="local ImageNet weights (.h5) for the backbone; none = scratch"
    )
    parser.add_argument("--layout", choices=["idc", "folders"], default="idc")
    parser.add_argument("--classes", nargs="+", default=["0", "1"], help="class folder names")
    parser.add_argument("--labels", nargs="+", default=["non-IDC", "IDC"], help="class names")
    parser.add_argument("--malignant-label", default="IDC")
    parser.add_argument("--patient-pattern", default=r"^(?P<patient>[^_]+)_")
    parser.add_argument(
        "--backbone", choices=["mobilenetv2", "mobilenetv3small"], default="mobilenetv2"
    )
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--input-size", type=int, default=96)
    parser.add_argument("--tile-size", type=int, default=50)
    parser.add_argument("--head-epochs", type=int, default=2)
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--name", default="idc-mobilenetv2")
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument(
        "--test-time-augmentation",
        choices=["auto", "none", "dihedral8"],
        default="auto",
        help="views averaged per input; auto = the better on validation patients",
    )
    parser.add_argument("--representative", type=int, default=300, help="int8 calibration patches")
    parser.add_argument(
        "--from-float",
        type=Path,
        help="resume: skip fitting and export/evaluate the float model of this earlier run folder",
    )
    parser.add_argument("--limit-per-patient", type=int, help="smoke tests: cap images per patient")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # TensorFlow is imported only now, so --help works without the 'train' extra.
    try:
        from appliance.trainer.train import TrainConfig, run
    except ImportError as exc:
        raise SystemExit(
            f"the trainer needs TensorFlow: pip install 'histo-appliance[train]' ({exc})"
        ) from exc
    config = TrainConfig(
        data=args.data,
        output=args.output,
        weights=args.weights,
        layout=args.layout,
        classes=tuple(args.classes),
        label_names=tuple(args.labels),
        malignant_label=args.malignant_label,
        patient_pattern=args.patient_pattern,
        backbone=args.backbone,
        alpha=args.alpha,
        input_size=args.input_size,
        tile_size=args.tile_size,
        head_epochs=args.head_epochs,
        finetune_epochs=args.finetune_epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        name=args.name,
        version=args.version,
        limit_per_patient=args.limit_per_patient,
        test_time_augmentation=args.test_time_augmentation,
        representative=args.representative,
        from_float=args.from_float,
    )
    run(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
