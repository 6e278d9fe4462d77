"""Decision: from a malignant probability and the card's thresholds to a word a person reads."""

from appliance.decision.rules import case_verdict, decide
from appliance.values import CaseVerdict, Decision

__all__ = ["CaseVerdict", "Decision", "case_verdict", "decide"]
