"""The screen's words moved to :mod:`appliance.problems` (Qt-free, shared with the runtime).

Only the names that the view modules still import from here are kept; import them from
:mod:`appliance.problems` in new code (this module goes once ``state_views`` and ``widgets`` do).
"""

from appliance.problems import WAITING_TEXT, WAITING_TITLE, Problem, problem, scan_ending

__all__ = ["WAITING_TEXT", "WAITING_TITLE", "Problem", "problem", "scan_ending"]
