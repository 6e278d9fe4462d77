"""The PySide6 touch-screen application (``histo-appliance gui``).

Importing this package does not import Qt; :mod:`appliance.gui.app` does. The decisions live
outside it, without Qt, so they can be read and tested without a display: the assembly in
:mod:`appliance.runtime`, the settings in :mod:`appliance.settings`, the words in
:mod:`appliance.problems`, and what a tap does in :mod:`appliance.controller`. The Qt modules
only show them and hand work to background threads so the event loop never waits on a disk or
the model.
"""
