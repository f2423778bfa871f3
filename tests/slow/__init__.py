"""Slow suites (crash and fuzz), not run by default: ``python -m pytest -m slow -n 2``."""
