"""Helpers the test modules import: event factories, waiting, and a scenario world seen from a test.

conftest.py files hold fixtures only; everything a test module imports by name lives here.
"""
