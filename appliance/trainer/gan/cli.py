"""``histo-appliance-train gan train|generate|fid|curve|real``: the GAN's command line.

TensorFlow is imported only after parsing, so ``--help`` works without the ``train`` extra.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.trainer.distribute import STRATEGIES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="histo-appliance-train gan",
        description="A conditional WGAN-GP trained on one class of the training patients only;"
        " synthetic images for the classifier; FID/KID on stated extractors.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train (or --resume) a GAN run")
    train.add_argument("--data", type=Path, required=True)
    train.add_argument("--out", type=Path, required=True, help="run folder")
    train.add_argument("--class", dest="target_class", type=int, default=1)
    train.add_argument("--layout", default="idc")
    train.add_argument("--split", nargs=3, type=float, default=[0.7, 0.15, 0.15])
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--image-size", type=int, default=64)
    train.add_argument("--loss", choices=["wgan-gp", "hinge"], default="wgan-gp")
    train.add_argument("--lr", type=float, default=0.0025, help="both networks' learning rate")
    train.add_argument("--beta-1", type=float, default=0.0, help="Adam's first moment decay")
    train.add_argument("--beta-2", type=float, default=0.99, help="Adam's second moment decay")
    train.add_argument("--gamma", type=float, default=10.0, help="gradient-penalty weight")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--critic-steps", type=int, default=5)
    train.add_argument("--steps", type=int, default=10000, help="generator updates")
    train.add_argument("--width", type=int, default=64)
    train.add_argument("--latent-dim", type=int, default=128)
    train.add_argument("--sample-every", type=int, default=500)
    train.add_argument("--checkpoint-every", type=int, default=500)
    train.add_argument("--limit-per-patient", type=int)
    train.add_argument("--strategy", choices=STRATEGIES, default="default")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")

    gen = sub.add_parser("generate", help="write N synthetic images as OUT/<class>/*.png")
    gen.add_argument("--checkpoint", type=Path, required=True, help="a GAN run folder")
    gen.add_argument("-n", type=int, required=True)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--class", dest="target_class", type=int)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--step", type=int, help="this checkpoint's generator (default: the latest)")

    fid = sub.add_parser("fid", help="FID and KID between two image folders")
    fid.add_argument("a", type=Path)
    fid.add_argument("b", type=Path)
    _extractor_options(fid)

    curve = sub.add_parser(
        "curve", help="FID and KID of every checkpoint of a run against real images: TSV + PNG"
    )
    curve.add_argument("run", type=Path, help="a GAN run folder")
    curve.add_argument("--real", type=Path, required=True, help="a folder of real images")
    curve.add_argument("-n", type=int, default=500, help="images generated per checkpoint")
    curve.add_argument("--seed", type=int, default=0, help="latent seed, the same every step")
    curve.add_argument("--out", type=Path, help="the TSV (default: RUN/fid-curve.tsv); PNG beside")
    _extractor_options(curve)

    sheet = sub.add_parser("sheet", help="real images beside the run's sample grids: one PNG")
    sheet.add_argument("run", type=Path, help="a GAN run folder")
    sheet.add_argument("--real", type=Path, required=True, help="a folder of real images")
    sheet.add_argument("--out", type=Path, required=True, help="the PNG")
    sheet.add_argument("--steps", type=int, nargs="+", required=True, help="sample grids shown")

    real = sub.add_parser(
        "real", help="copy the run's real images of its class (training patients) into a folder"
    )
    real.add_argument("run", type=Path, help="a GAN run folder or its gan_config.json")
    real.add_argument("--out", type=Path, required=True)
    real.add_argument("-n", type=int, help="a seeded sample of this many (default: all)")
    real.add_argument("--seed", type=int, default=0)
    real.add_argument(
        "--part",
        choices=["train", "validation"],
        default="train",
        help="validation: the real-vs-real reference for FID/KID",
    )
    return parser


def _extractor_options(command: argparse.ArgumentParser) -> None:
    """The feature extractors of FID/KID, named the same way by every command that uses them."""
    command.add_argument("--mobilenetv2", type=Path, help="local ImageNet MobileNetV2 weights file")
    command.add_argument("--classifier", type=Path, help="a run's float_model.keras")
    command.add_argument("--size", type=int, default=96, help="images are resized to this first")


def _train(args) -> None:
    from appliance.trainer.gan.config import GanConfig
    from appliance.trainer.gan.training import CONFIG_FILE, train_gan

    if args.resume and (args.out / CONFIG_FILE).exists():
        config = GanConfig.from_json(args.out / CONFIG_FILE, steps=args.steps)
    else:
        config = GanConfig(
            data=args.data,
            output=args.out,
            target_class=args.target_class,
            layout=args.layout,
            split=tuple(args.split),
            seed=args.seed,
            image_size=args.image_size,
            latent_dim=args.latent_dim,
            width=args.width,
            loss=args.loss,
            generator_lr=args.lr,
            critic_lr=args.lr,
            beta_1=args.beta_1,
            beta_2=args.beta_2,
            gamma=args.gamma,
            batch_size=args.batch_size,
            critic_steps=args.critic_steps,
            steps=args.steps,
            sample_every=args.sample_every,
            checkpoint_every=args.checkpoint_every,
            limit_per_patient=args.limit_per_patient,
            strategy=args.strategy,
        )
    result = train_gan(config, resume=args.resume)
    print(f"GAN run at step {result.step}: {result.output}")


def _fid(args) -> None:
    from appliance.trainer import fid

    extractors = fid.named_extractors(args.mobilenetv2, args.classifier, args.size)
    a, b = fid.folder_images(args.a, args.size), fid.folder_images(args.b, args.size)
    for extract, name in extractors:
        print(fid.compare(extract(a), extract(b), name).describe())


def _curve(args) -> None:
    from appliance.trainer import fid
    from appliance.trainer.gan import curve

    extractors = fid.named_extractors(args.mobilenetv2, args.classifier, args.size)
    real = fid.folder_images(args.real, args.size)
    points = curve.measure(
        args.run,
        real,
        extractors,
        n=args.n,
        size=args.size,
        seed=args.seed,
        log=lambda line: print(line, file=sys.stderr),
    )
    tsv = curve.write_tsv(points, args.out or args.run / "fid-curve.tsv")
    print(tsv.read_text(), end="")
    print(f"curve: {tsv} and {curve.plot(points, tsv.with_suffix('.png'))}", file=sys.stderr)


def _real(args) -> None:
    from appliance.trainer.gan.config import load_run_config
    from appliance.trainer.gan.real import write_real_folder

    config = load_run_config(args.run)
    files = write_real_folder(config, args.out, n=args.n, part=args.part, seed=args.seed)
    print(
        f"{len(files)} real images of class {config.target_class} ({args.part} patients)"
        f" in {args.out}"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            _train(args)
        elif args.command == "generate":
            from appliance.trainer.gan.training import generate_folder

            folder = generate_folder(
                args.checkpoint,
                args.n,
                args.out,
                label=args.target_class,
                seed=args.seed,
                step=args.step,
            )
            print(f"{args.n} synthetic images in {folder}")
        elif args.command == "curve":
            _curve(args)
        elif args.command == "real":
            _real(args)
        elif args.command == "sheet":
            from appliance.trainer.gan.sheet import write_sheet

            print(write_sheet(args.run, args.real, args.out, args.steps))
        else:
            _fid(args)
    except ImportError as exc:
        print(
            f"the GAN needs TensorFlow: pip install 'histo-appliance[train]' ({exc})",
            file=sys.stderr,
        )
        return 2
    except (ValueError, FileNotFoundError) as exc:
        print(f"histo-appliance-train gan: {exc}", file=sys.stderr)
        return 2
    return 0
