"""A scan as a FHIR R4 ``Bundle`` (type ``collection``), built as plain JSON data.

What is in it: one ``DiagnosticReport`` for the scan, one ``Observation`` per image (the
decision as ``valueCodeableConcept``, the malignant probability as a ``valueQuantity``
component, the file, its sha256 and its case as components, the review in force as a note), a
``Specimen`` for each case whose folder gave specimen details (:mod:`appliance.ingest.sidecar`),
and two ``Device`` resources: the model (name, version, sha256) and the appliance it ran on.

Why research-use is said four ways: every resource carries the security label ``HRESCH``
(healthcare research, HL7 v3 ActReason) and a tag, the report's conclusion starts with "For
research use only — not for diagnostic use", and so does a note on every Observation: a
receiving system that shows any one of these shows that the result is not a diagnosis.

Why no FHIR library at run time: the appliance needs no new dependency on the Pi to write a
few dictionaries; the tests validate the output against the published R4 models
(``fhir.resources``; its R4B package, whose DiagnosticReport, Observation, Specimen, Device and
Bundle are those of R4). Codes and identifiers of the appliance's own use the ``urn:histo-
appliance:`` prefix: no published terminology names these results. Resource ids are UUIDs
derived from the database id, scan and image, so exporting a scan twice gives the same ids.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from appliance.report.contents import CaseContents, ExportStamp, ScanContents
from appliance.report.words import RESEARCH_ONLY
from appliance.store import ImageRecord, ReviewRecord
from appliance.text import display_text
from appliance.values import Decision

SYSTEM = "urn:histo-appliance:"
UCUM = "http://unitsofmeasure.org"
RESEARCH_LABEL = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
    "code": "HRESCH",
    "display": "healthcare research",
}
RESEARCH_TAG = {"system": f"{SYSTEM}notice", "code": "research-use-only", "display": RESEARCH_ONLY}
META = {"security": [RESEARCH_LABEL], "tag": [RESEARCH_TAG]}
PATHOLOGY = {
    "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
    "code": "PAT",
    "display": "Pathology (gross & histopath, not surgical)",
}
IMAGING = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "imaging",
    "display": "Imaging",
}
REPORT_CODE = {
    "system": f"{SYSTEM}code",
    "code": "scan-report",
    "display": "AI classification of breast histopathology (H&E) images — research use only",
}
IMAGE_CODE = {
    "system": f"{SYSTEM}code",
    "code": "image-classification",
    "display": "AI classification of one breast histopathology (H&E) image",
}
# FHIR dateTime: a year, a month, a day, or a full time with its zone.
_FHIR_DATE = re.compile(
    r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$"
)


def shown(value: object) -> str:
    """Text from a stick or a person as a FHIR string: one line, no control characters (FHIR
    strings may not hold them), escapes visible (:func:`appliance.text.display_text`)."""
    return display_text(value)


def lines_text(value: str) -> str:
    """Like :func:`shown`, line by line: a note's or a conclusion's line breaks are kept."""
    return "\n".join(display_text(line) for line in value.splitlines())


@dataclass(frozen=True)
class Ids:
    """The scan's identifier value (``<database id>/<scan id>``) and its resources' UUIDs,
    derived from it, so the same scan exported twice has the same ids."""

    scan_key: str

    @classmethod
    def for_scan(cls, stamp: ExportStamp, scan_id: int) -> Ids:
        return cls(f"{stamp.database_id or 'unknown-database'}/{scan_id}")

    def __call__(self, kind: str, key: object = "") -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SYSTEM}{self.scan_key}/{kind}/{key}"))


def _ref(resource: dict[str, Any]) -> dict[str, str]:
    return {"reference": f"urn:uuid:{resource['id']}"}


def _decision_concept(decision: Decision) -> dict[str, Any]:
    coding = {"system": f"{SYSTEM}decision", "code": decision.value, "display": decision.wording}
    return {"coding": [coding], "text": decision.wording}


def review_note(review: ReviewRecord) -> dict[str, Any]:
    """The review in force as an Annotation: who, when, agreed or corrected to what, the note."""
    if review.agreed:
        verdict = "agreed with the AI result"
    else:
        corrected = review.corrected.wording if review.corrected else "?"
        verdict = f"corrected the result to: {corrected}"
    words = f"Human review: {verdict}."
    if review.note:
        words += f" Note: {review.note}"
    return {
        "authorString": shown(review.reviewer),
        "time": review.created_at,
        "text": lines_text(words),
    }


def specimen_resource(case: CaseContents, ids: Ids) -> dict[str, Any]:
    details = case.details
    resource: dict[str, Any] = {
        "resourceType": "Specimen",
        "id": ids("specimen", case.name),
        "meta": META,
    }
    if details.specimen:
        resource["identifier"] = [{"system": f"{SYSTEM}specimen", "value": details.specimen}]
    if details.accession:
        resource["accessionIdentifier"] = {
            "system": f"{SYSTEM}accession",
            "value": details.accession,
        }
    if details.specimen_type:
        resource["type"] = {"text": details.specimen_type}
    collection: dict[str, Any] = {}
    if details.collected and _FHIR_DATE.match(details.collected):
        collection["collectedDateTime"] = details.collected
    if details.body_site:
        collection["bodySite"] = {"text": details.body_site}
    if collection:
        resource["collection"] = collection
    notes = [f"Case folder on the stick: {shown(case.name)}"]
    if details.collected and "collectedDateTime" not in collection:
        notes.append(f"Collected (as written): {details.collected}")
    if details.note:
        notes.append(details.note)
    resource["note"] = [{"text": text} for text in notes]
    return resource


def observation_resource(
    image: ImageRecord,
    contents: ScanContents,
    *,
    ids: Ids,
    model: dict[str, Any],
    specimen: dict[str, Any] | None,
) -> dict[str, Any]:
    decision = image.effective_decision
    scan = contents.scan
    probability: dict[str, Any] = {"code": {"text": "Probability of malignancy (model output)"}}
    if image.p_malignant is None:
        probability["dataAbsentReason"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    "code": "error",
                    "display": "Error",
                }
            ],
            "text": shown(image.error or "the image could not be analysed"),
        }
    else:
        probability["valueQuantity"] = {
            "value": round(image.p_malignant, 6),
            "unit": "probability",
            "system": UCUM,
            "code": "1",
        }
    components = [
        probability,
        {"code": {"text": "File on the stick"}, "valueString": shown(image.path)},
        {"code": {"text": "Case (folder on the stick)"}, "valueString": shown(image.case)},
    ]
    if image.sha256:
        components.append({"code": {"text": "Image file sha256"}, "valueString": image.sha256})
    notes = [{"text": f"{RESEARCH_ONLY}."}]
    if image.error:
        notes.append({"text": f"Could not be analysed: {shown(image.error)}"})
    review = contents.review(image)
    if review is not None:
        notes.append(review_note(review))
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": ids("observation", image.id),
        "meta": META,
        "identifier": [{"system": f"{SYSTEM}image", "value": f"{ids.scan_key}/{image.id}"}],
        "status": "preliminary",
        "category": [{"coding": [IMAGING]}],
        "code": {"coding": [IMAGE_CODE], "text": IMAGE_CODE["display"]},
        "effectiveDateTime": image.created_at,
        "issued": image.created_at,
        "valueCodeableConcept": _decision_concept(decision),
        "method": {"text": f"{shown(scan.model_name)} {shown(scan.model_version)};"
                   f" cut-offs: {scan.rules.describe()}"},
        "device": _ref(model),
        "component": components,
        "note": notes,
    }  # fmt: skip
    if specimen is not None:
        resource["specimen"] = _ref(specimen)
    return resource


def device_resources(contents: ScanContents, ids: Ids) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model (name, version, sha256) and the appliance it ran on."""
    scan = contents.scan
    appliance = {
        "resourceType": "Device",
        "id": ids("device", "appliance"),
        "meta": META,
        "deviceName": [
            {"name": shown(scan.device or "not recorded"), "type": "user-friendly-name"}
        ],
        "type": {"text": "histo-appliance: offline image classifier (Raspberry Pi)"},
        "note": [{"text": f"{RESEARCH_ONLY}."}],
    }
    model = {
        "resourceType": "Device",
        "id": ids("device", "model"),
        "meta": META,
        "identifier": [{"system": f"{SYSTEM}model-sha256", "value": scan.model_sha256}],
        "deviceName": [{"name": shown(scan.model_name), "type": "model-name"}],
        "type": {"text": "Machine-learning model (int8 TFLite) classifying H&E image patches"},
        "version": [{"value": shown(scan.model_version)}],
        "note": [{"text": f"{RESEARCH_ONLY}. Interpreter: {shown(scan.backend or '?')}."}],
        "parent": _ref(appliance),
    }
    return model, appliance


def conclusion(contents: ScanContents) -> str:
    lines = [f"{RESEARCH_ONLY}. Machine-learning output, not a diagnosis."]
    for case in contents.cases:
        verdict = case.verdict
        lines.append(f"{shown(case.name)}: {verdict.decision.wording} — {verdict.explanation()}")
    if contents.scan.status != "complete":
        lines.append(
            f"The scan did not complete ({contents.scan.status}): not every image has a result."
        )
    return "\n".join(lines)


def fhir_bundle(contents: ScanContents, stamp: ExportStamp) -> dict[str, Any]:
    """The Bundle as JSON data."""
    scan = contents.scan
    ids = Ids.for_scan(stamp, scan.id)
    model, appliance = device_resources(contents, ids)
    specimens = {
        case.name: specimen_resource(case, ids)
        for case in contents.cases
        if case.details.source == "sidecar"
    }
    observations = [
        observation_resource(
            image, contents, ids=ids, model=model, specimen=specimens.get(image.case)
        )
        for image in contents.images
    ]
    period = {"start": scan.started_at, **({"end": scan.finished_at} if scan.finished_at else {})}
    report = {
        "resourceType": "DiagnosticReport",
        "id": ids("report"),
        "meta": META,
        "identifier": [{"system": f"{SYSTEM}scan", "value": ids.scan_key}],
        "status": "preliminary" if scan.status == "complete" else "partial",
        "category": [{"coding": [PATHOLOGY]}],
        "code": {"coding": [REPORT_CODE], "text": REPORT_CODE["display"]},
        "effectivePeriod": period,
        "issued": stamp.at,
        "specimen": [_ref(s) for s in specimens.values()],
        "result": [_ref(o) for o in observations],
        "conclusion": lines_text(conclusion(contents)),
    }
    if not report["specimen"]:
        del report["specimen"]
    if not report["result"]:
        del report["result"]
    resources = [report, *observations, *specimens.values(), model, appliance]
    return {
        "resourceType": "Bundle",
        "id": ids("bundle"),
        "meta": META,
        "identifier": {"system": f"{SYSTEM}scan-export", "value": ids.scan_key},
        "type": "collection",
        "timestamp": stamp.at,
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def render_fhir(contents: ScanContents, stamp: ExportStamp) -> bytes:
    """The Bundle's bytes (FHIR JSON, UTF-8)."""
    bundle = fhir_bundle(contents, stamp)
    return (json.dumps(bundle, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
