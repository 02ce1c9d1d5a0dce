"""Turning a results folder into answers: grouped configs, baselines, tables, plots, exports."""
