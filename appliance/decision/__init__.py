"""Decision: from a malignant probability and the card's thresholds to a word a person reads."""

from appliance.decision.rules import (
    CaseVerdict,
    Decision,
    case_verdict,
    decide,
)

__all__ = ["CaseVerdict", "Decision", "case_verdict", "decide"]
