"""Speed benchmarks, run from the repository root as `python -m benchmarks.NAME`.

Each prints its timings as ratios against a reference measured in the same run, so the figures
mean the same on a laptop, a shared CI box or a GPU server.
"""
