"""Decision: from a malignant probability and the card's thresholds to a word a person reads.

Every rule about bands, severity and case verdicts lives in :mod:`appliance.decision.rules`.
"""

from appliance.decision.rules import (
    CODES,
    SEVERITY,
    Case,
    case_verdict,
    decide,
    decide_array,
    group_cases,
    most_serious,
)
from appliance.values import CaseVerdict, Decision

__all__ = [
    "CODES",
    "SEVERITY",
    "Case",
    "CaseVerdict",
    "Decision",
    "case_verdict",
    "decide",
    "decide_array",
    "group_cases",
    "most_serious",
]
