"""Fixtures shared by every test module."""

pytest_plugins = ["tests.support.services"]
