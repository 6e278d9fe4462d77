"""Render a model card (card.json) as a page for people: ``docs/model-card.md``.

Every number on the page is read from the card, which the trainer measured; nothing is typed by
hand. Usage: ``python -m appliance.trainer.card_doc models/idc-mobilenetv2 > docs/model-card.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from appliance.inference.bundle import ModelBundle
from appliance.model_summary import summarise

ROWS = (
    ("balanced_accuracy", "Balanced accuracy"),
    ("sensitivity", "Sensitivity (IDC found)"),
    ("specificity", "Specificity (non-IDC cleared)"),
    ("precision", "Precision"),
    ("f1", "F1"),
    ("mcc", "MCC"),
    ("auc", "ROC AUC"),
)


# What the product asks of a shipped model on test patients (issue 2); reported, never tuned to.
TARGETS = {"balanced_accuracy": 0.85, "sensitivity": 0.90}


def _f(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def render(bundle: ModelBundle, figure: Path | None = None) -> str:
    """The page; with ``figure``, the reliability diagram is drawn there and linked by name
    (the page and the figure sit in one folder, e.g. ``docs/``)."""
    card = bundle.card
    summary = summarise(card)
    m, data, prov = card.metrics, card.training_data, card.provenance
    test, flt, val = m["test_int8"], m["test_float"], m["validation_int8"]
    ci = m.get("test_int8_ci95_patient_bootstrap", {})
    counts = data.get("counts", {})
    t = card.thresholds
    three = m.get("test_int8_three_way", {})
    decided = three.get("decided", {})
    agree = m.get("float_vs_int8_test", {})
    per_patient = m.get("test_int8_per_patient", {})
    c = test["confusion"]
    lines = [
        f"# Model card — {card.name} {card.version}",
        "",
        "**For research use only — not for diagnostic use.** Generated from "
        f"`{bundle.directory.name}/card.json` by `appliance.trainer.card_doc`; sha256 of the model "
        f"file: `{card.sha256}`.",
        "",
        "## What it does",
        summary.purpose,
        "",
        f"In detail: one {card.input.tile_size}×{card.input.tile_size} px patch at a time (about"
        " 2.5× magnification, as in the training set); the image score is the mean of its 3 most"
        " suspicious tissue patches. Input: "
        f"{card.input.height}×{card.input.width} RGB, {card.input.scaling} scaling, int8; "
        f"test-time augmentation: {card.input.test_time_augmentation}"
        + (
            f"; stain normalisation: {card.input.stain_normalization['method']} to a target"
            " from training patients."
            if card.input.stain_normalization
            else "."
        ),
        "",
        "## Intended use and limits",
        "What it must not be used for (the same words as the appliance's About page):",
        "",
        *(f"- {line}" for line in summary.not_for),
        "- The three-way decision refers the uncertain middle to a person; see below how many.",
        "",
        "## Data and split",
        f"- {data.get('dataset', '')}; {sum(v.get('images', 0) for v in counts.values())} patches "
        f"of {sum(v.get('patients', 0) for v in counts.values())} patients.",
        f"- Split **by patient** ({data.get('split', '')}; seed {data.get('seed')}):"
        " no patient has "
        "patches on two sides.",
        "",
        "| part | patients | patches | IDC | non-IDC |",
        "|---|---|---|---|---|",
    ]
    for name in ("train", "validation", "test"):
        part = counts.get(name, {})
        lines.append(
            f"| {name} | {part.get('patients')} | {part.get('images')} | {part.get('positive')} "
            f"| {part.get('negative')} |"
        )
    if _out_of_fold(m):
        lines += [
            "",
            "Thresholds came from out-of-fold scores, so the final model trained on every"
            " development patient: the validation patients are part of `train` here.",
        ]
    lines += [
        "",
        "## Performance on unseen (test) patients",
        f"Image-level metrics of the **int8 model that ships**, at the operating point "
        f"{t.operating_point} chosen on {_calibration(m)} (sensitivity ≥ "
        f"{prov.get('config', {}).get('target_sensitivity', '?')} there). Intervals: 95 % "
        "percentile bootstrap over test patients (1000 resamples of whole patients).",
        "",
        f"| metric | int8, test | 95 % CI | float, test | int8, {_calibration_short(m)} |",
        "|---|---|---|---|---|",
    ]
    for key, label in ROWS:
        low_high = ci.get(key)
        interval = f"{_f(low_high[0])} – {_f(low_high[1])}" if low_high else "–"
        lines.append(
            f"| {label} | {_f(test[key])} | {interval} | {_f(flt[key])} | {_f(val[key])} |"
        )
    lines += [
        "",
        f"Against the appliance's targets (balanced accuracy ≥ {TARGETS['balanced_accuracy']},"
        f" sensitivity ≥ {TARGETS['sensitivity']} on test patients at the operating point): "
        + "; ".join(
            f"{key.replace('_', ' ')} {_f(test[key])} "
            + ("meets it" if test[key] >= goal else "**misses it**")
            for key, goal in TARGETS.items()
        )
        + ".",
        "",
        f"Confusion (test, int8): {c['tp']} IDC found, {c['fn']} IDC missed, {c['tn']} non-IDC "
        f"cleared, {c['fp']} non-IDC flagged.",
        "",
        "### The three-way decision on test patients",
        f"Benign below {t.show(t.benign_below)}, malignant at or above"
        f" {t.show(t.malignant_at)}, indeterminate (refer) in between."
        f" {_f(100 * three.get('indeterminate_fraction', 0), 1)} % of test "
        "patches fall in the band; on the rest: balanced accuracy "
        f"{_f(decided.get('balanced_accuracy'))}, sensitivity {_f(decided.get('sensitivity'))}, "
        f"specificity {_f(decided.get('specificity'))}. {_band_rule(prov.get('config', {}), m)}",
        "",
        *_answers(summary),
        "### Per patient",
        f"Median per-patient accuracy {_f(per_patient.get('accuracy_median'))}, lowest "
        f"{_f(per_patient.get('accuracy_min'))}; {per_patient.get('patients_below_0.7_accuracy')} "
        f"of {per_patient.get('patients')} test patients below 0.70: performance varies by "
        "patient more than the pooled numbers suggest.",
        "",
        "### int8 against float",
        f"On {agree.get('n')} test patches the int8 model takes the same decision as the float "
        f"model for {_f(100 * agree.get('decision_agreement', 0), 1)} %; mean |Δp| "
        f"{_f(agree.get('mean_abs_diff'))}, 99th percentile {_f(agree.get('p99_abs_diff'))}."
        + _three_way_agreement(m),
        "",
        "### Compute",
        _compute(card),
        "",
        *_reliability(card, figure),
        "### Context",
        "Published patient-disjoint results on the full set (277,524 patches): balanced accuracy "
        "0.842 (Cruz-Roa 2014), 0.847 (Janowczyk 2016). This model saw about 4 % of those "
        f"patches; its test set is {counts.get('test', {}).get('patients')} patients, hence the"
        " wide intervals.",
        "",
        "## Provenance",
        f"- Preset `{prov.get('preset', 'mobilenetv2')}`: {prov.get('backbone')}, initialised from"
        f" `{prov.get('pretrained_weights')}`.",
        *_ensemble(prov.get("ensemble")),
        f"- Augmentation: {_augmentation(card.training_data.get('augmentation'))}.",
        f"- Trained {prov.get('created')} on {prov.get('machine')}; final fit "
        f"{_f((prov.get('train_seconds') or 0) / 60, 0)} min"
        + (" (a resumed run: fits finished before are not counted)" if _resumed(prov) else "")
        + f"; TensorFlow {prov.get('tensorflow')}, "
        f"Keras {prov.get('keras')}; commit {prov.get('git_commit', '')[:12]}.",
        f"- Quantisation: {prov.get('quantization')}.",
        "- Reproduce: see `docs/trainer.md` (one `histo-appliance-train` command; the full "
        "configuration is in the card under `provenance.config`).",
        "",
        *_scope(card),
    ]
    return "\n".join(lines)


def _answers(summary) -> list[str]:
    """What each answer was worth on test patients, as the About page says it."""
    lines = ["What each answer was worth (the same words as the appliance's About page):", ""]
    if summary.three_way is not None:
        lines += [f"On {summary.three_way.unseen()}:", ""]
    lines += ["| answer | on test patients |", "|---|---|"]
    lines += [f"| {what} | {worth} |" for what, worth in summary.figure_rows()]
    return [*lines, ""]


def _scope(card) -> list[str]:
    """The scope gate: its limits and what it was measured to stop."""
    if card.scope is None:
        return ["## Scope gate", "This card sets no scope limits.", ""]
    lines = [
        "## Scope gate: what the model refuses to answer",
        "Inputs outside these limits are **unassessable** with the reason in words, never benign"
        " or malignant. The limits were set on training patients only"
        f" ({card.scope.calibration.get('fitted_on', '')}), each at"
        f" {card.scope.calibration.get('limits_at', '')}; see `docs/reliability.md`.",
        "",
        "| check | limit |",
        "|---|---|",
        *(f"| {what} | {limit} |" for what, limit in card.scope.describe()),
        "",
        "| inputs | images | stopped | answered benign or malignant |",
        "|---|---|---|---|",
    ]
    for rate in card.scope.measured_rates():
        lines.append(
            f"| {rate.what} | {rate.images} | {rate.stopped} ({rate.stopped_share:.1%}) |"
            f" {rate.confident_answers} |"
        )
    return [*lines, ""]


def _band_rule(config: dict, metrics: dict) -> str:
    """How the refer band was chosen, and what it did on the patients it was chosen on."""
    if config.get("band_rule") == "decided":
        how = (
            "The band is the one deciding the most images of the patients it was chosen on"
            f" while the decided keep sensitivity ≥ {config.get('decided_sensitivity')} and"
            f" balanced accuracy ≥ {config.get('decided_balanced_accuracy')}"
        )
    else:
        how = (
            f"The band reaches sensitivity {config.get('band_sensitivity', 0.97)} below and"
            f" specificity {config.get('band_specificity', 0.90)} above on the patients it was"
            " chosen on"
        )
    seen = metrics.get("validation_int8_three_way")
    if seen:
        how += f" (there: {_f(100 * seen.get('indeterminate_fraction', 0), 1)} % referred)"
    return how + "."


def _three_way_agreement(metrics: dict) -> str:
    three = metrics.get("float_vs_int8_three_way")
    if not three:
        return ""
    return (
        " The three-way answer (benign, refer, malignant) is the same for"
        f" {_f(100 * three.get('decision_agreement', 0), 1)} % of test patches."
    )


def _compute(card) -> str:
    """Backbone passes per patch: what a scan's time on a Pi scales with."""
    from appliance.trainer.candidates_doc import passes

    views = card.input.test_time_augmentation
    return (
        f"{passes(card.metrics, card.provenance, views)} backbone passes per 50 px patch"
        f" ({views} test-time views × ensemble members); per-patch latency here and on a Pi 4:"
        " `python -m bench.candidates`."
    )


def _out_of_fold(metrics: dict) -> bool:
    """Whether the thresholds came from out-of-fold scores (``--threshold-folds``)."""
    return metrics.get("thresholds_chosen_on", "").startswith("out-of-fold")


def _resumed(provenance: dict) -> bool:
    """Whether the run continued from earlier checkpoints (``--resume``). Not ``--from-float``
    (``resumed_from``): that copies the earlier run's training time, so nothing is missing."""
    return bool(provenance.get("config", {}).get("resume"))


def _calibration(metrics: dict) -> str:
    """Where the thresholds were chosen, in words (older cards: validation patients)."""
    source = metrics.get("thresholds_chosen_on", "validation patients")
    if not _out_of_fold(metrics):
        return source
    return source.replace("scores of", "scores of the") + " over the training patients"


def _calibration_short(metrics: dict) -> str:
    return "out-of-fold" if _out_of_fold(metrics) else "validation"


def _ensemble(ensemble: dict | None) -> list[str]:
    """A line for an ensemble's members (none for a single model)."""
    if not ensemble:
        return []
    seeds = ", ".join(str(seed) for seed in ensemble["seeds"])
    return [
        f"- Ensemble: {ensemble['members']} members of this recipe on the same patients, seeds"
        f" {seeds}; the exported model averages their probabilities, so every input costs"
        f" {ensemble['members']} forward passes."
    ]


def _augmentation(settings: dict | None) -> str:
    """The active augmentation steps of a card (older cards did not record them)."""
    if not settings:
        return "flips, quarter turns, small colour jitter"
    active = [
        key
        for key, value in settings.items()
        if key not in ("keras", "fill_mode") and value not in (False, 0, 0.0, [0.0, 0.0])
    ]
    return ", ".join(active) if active else "none"


def _reliability(card, figure: Path | None) -> list[str]:
    """Honest probabilities: the card's calibration, ECE on test patients and the diagram."""
    m, calibration = card.metrics, card.calibration
    bins = m.get("test_int8_reliability")
    lines = ["### Calibration (honest probabilities)"]
    if calibration is None:
        lines.append(
            "This card carries no calibration: the `p` shown is the model's own view-averaged"
            " probability."
            + (f" ECE on test patients {_f(m['test_int8_ece'])}." if "test_int8_ece" in m else "")
        )
    else:
        how = (
            f"temperature T = {calibration.temperature}"
            if calibration.method == "temperature"
            else f"an isotonic table of {len(calibration.knots_x)} knots"
        )
        lines.append(
            f"The `p` shown is calibrated by {how}, fitted on {calibration.fitted_on} (never on"
            f" test patients). ECE on test patients: {_f(calibration.ece_before)} before,"
            f" {_f(calibration.ece_after)} after. The thresholds above are on this calibrated"
            " scale."
        )
    lines.append(
        "ECE: the patch-weighted mean, over 15 equal-width bins of the malignant probability, of"
        " |observed malignant fraction − mean predicted probability|."
    )
    if bins and figure is not None:
        from appliance.trainer.plots import plot_reliability

        curves = {"as shipped": bins}
        if m.get("test_int8_reliability_uncalibrated"):
            curves = {"uncalibrated": m["test_int8_reliability_uncalibrated"], "calibrated": bins}
        plot_reliability(curves, figure)
        lines += ["", f"![Reliability diagram on test patients]({figure.name})"]
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    figure = None
    if len(args) == 3 and args[1] == "--figure":
        figure = Path(args[2])
    elif len(args) != 1:
        print(
            "usage: python -m appliance.trainer.card_doc BUNDLE_DIR [--figure PNG]",
            file=sys.stderr,
        )
        return 2
    print(render(ModelBundle.load(Path(args[0])), figure))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
