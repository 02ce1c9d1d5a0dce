"""Refresh the generated blocks of EXPERIMENTS.md from results folders.

Every block between `<!-- BEGIN: adamlab report RESULTS_DIR ARGS... -->` and `<!-- END -->` is
replaced by the standard output of that command (run with this Python's adamlab), and a block
`<!-- BEGIN: runs RESULTS_DIR... -->` by a table of each folder's sweep runs (trials, wall time
and command, from its provenance.json), so no number in those tables is typed by hand:

    python docs/update_experiments.py [EXPERIMENTS.md] [--results-root DIR]

`--results-root DIR` reads `results/NAME` as `DIR/NAME` (for runs kept outside the checkout).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from datetime import datetime
from pathlib import Path

BLOCK = re.compile(r"(<!-- BEGIN: ((?:adamlab|runs) [^>]*?) -->\n)(.*?)(<!-- END -->)", re.DOTALL)


def refresh(text: str, results_root: Path | None) -> str:
    def run(match: re.Match) -> str:
        command, *args = shlex.split(match.group(2))
        if results_root is not None:
            args = [str(results_root / a.removeprefix("results/")) if a.startswith("results/")
                    else a for a in args]
        if command == "runs":
            return f"{match.group(1)}{runs_table(args)}\n{match.group(4)}"
        out = subprocess.run(
            [sys.executable, "-m", "adamlab.cli.app", *args], check=True, capture_output=True,
            text=True,
        ).stdout
        return f"{match.group(1)}{out.rstrip()}\n{match.group(4)}"

    return BLOCK.sub(run, text)


def runs_table(folders: list[str]) -> str:
    lines = ["| results | trials run | wall | command |", "|---|---:|---:|---|"]
    for folder in folders:
        provenance = json.loads((Path(folder) / "provenance.json").read_text())
        for run in provenance.get("runs", []):
            seconds = (datetime.fromisoformat(run["ended"])
                       - datetime.fromisoformat(run["started"])).total_seconds()
            wall = f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"
            argv = ["adamlab", *run["argv"][1:]]
            if "--out" in argv:  # where this run wrote is not part of the recipe
                at = argv.index("--out")
                del argv[at:at + 2]
            lines.append(f"| {Path(folder).name} | {run.get('trials_to_run', '')} | {wall} | "
                         f"`{' '.join(argv)}` |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="EXPERIMENTS.md", type=Path)
    parser.add_argument("--results-root", type=Path)
    options = parser.parse_args()
    options.path.write_text(refresh(options.path.read_text(), options.results_root))


if __name__ == "__main__":
    main()
