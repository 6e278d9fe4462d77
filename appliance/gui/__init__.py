"""The PySide6 touch-screen application (``histo-appliance gui``).

Importing this package does not import Qt; :mod:`appliance.gui.app` does. The pure parts
(:mod:`~appliance.gui.session`, :mod:`~appliance.gui.export`, :mod:`~appliance.gui.messages`)
hold the decisions, so they can be read and tested without a display; the Qt modules only show
them and hand work to background threads so the event loop never waits on a disk or the model.
"""
