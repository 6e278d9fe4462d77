"""Benchmarks of the appliance: one command (``python -m bench``), tables on screen, JSON too."""
