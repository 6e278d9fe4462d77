"""The appliance's actions without Qt: the stick queue, scans, results, reviews, exports, settings.

The GUI (:mod:`appliance.gui.main_window`) is a thin shell that runs these off its own thread and
shows what they return; tests run them directly. See :class:`~appliance.controller.core.Controller`.
"""

from appliance.controller.core import Controller, Refused

__all__ = ["Controller", "Refused"]
