"""adamlab: a command-line experiment runner for optimizer research."""

__version__ = "0.1.0"
