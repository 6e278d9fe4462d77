"""histo-appliance: an offline breast histopathology classifier for the Raspberry Pi.

For research use only — not for diagnostic use. The runtime needs numpy, Pillow and a TFLite
interpreter; it never imports TensorFlow (only :mod:`appliance.trainer` does).
"""

__version__ = "0.2.0"
