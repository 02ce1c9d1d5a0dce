"""Turning a results folder into answers: grouped configs, references and comparisons, tables, plots, exports."""
