"""Reproducible benchmark scripts that print tables; a package so that they share `load.py`."""
