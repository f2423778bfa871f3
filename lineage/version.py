"""The version of lineage (a module of its own, so every layer may import it)."""

__version__ = "0.1.0"
