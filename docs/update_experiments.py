"""Refresh the generated blocks of EXPERIMENTS.md from results folders.

Every block between `<!-- BEGIN: adamlab report RESULTS_DIR ARGS... -->` and `<!-- END -->` is
replaced by the standard output of that command (run with this Python's adamlab), and a block
`<!-- BEGIN: runs RESULTS_DIR... -->` by a table of each folder's sweep runs (trials, wall time
and command, from its provenance.json), and a block `<!-- BEGIN: criteria EXPERIMENT -->` by
a table of that experiment's claims with the commit that last changed each one's criterion, so
no number in those tables is typed by hand:

    python docs/update_experiments.py [EXPERIMENTS.md] [--results-root DIR]

`--results-root DIR` reads `results/NAME` as `DIR/NAME` (for runs kept outside the checkout).

The commit that last changed a criterion: a criterion is a set of definitions (`module:name`,
see adamlab/experiments/criteria.py) and its hash is computed from their source text alone, so
it can be recomputed at any commit from `git show COMMIT:FILE` without importing old code. The
commits that touched any of its files (`git log -- FILES`, newest first) are walked while the
hash at each equals today's; the last of that run, the oldest commit with today's criterion
after which it never changed, is the one named. "uncommitted" when the working tree's criterion
differs from HEAD's.
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

BLOCK = re.compile(r"(<!-- BEGIN: ((?:adamlab|runs|criteria) [^>]*?) -->\n)(.*?)(<!-- END -->)",
                   re.DOTALL)
REPO = Path(__file__).resolve().parents[1]


def refresh(text: str, results_root: Path | None) -> str:
    def run(match: re.Match) -> str:
        command, *args = shlex.split(match.group(2))
        if results_root is not None:
            args = [str(results_root / a.removeprefix("results/")) if a.startswith("results/")
                    else a for a in args]
        if command == "runs":
            return f"{match.group(1)}{runs_table(args)}\n{match.group(4)}"
        if command == "criteria":
            return f"{match.group(1)}{criteria_table(args[0])}\n{match.group(4)}"
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


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout


def last_change(criterion) -> str:
    """The short hash of the commit that last changed `criterion` (see the module docstring)."""
    from adamlab.experiments.criteria import criterion_hash, module_path

    files = sorted({module_path(ref.split(":")[0]) for ref in criterion.code})
    today = criterion_hash(criterion)
    shown: dict[tuple[str, str], str] = {}

    def at(commit: str):
        def source_of(module: str) -> str:
            key = (commit, module_path(module))
            if key not in shown:
                shown[key] = _git("show", f"{commit}:{key[1]}")
            return shown[key]
        return source_of

    if criterion_hash(criterion, at("HEAD")) != today:
        return "uncommitted"
    last = ""
    for commit in _git("log", "--format=%h", "--", *files).split():
        if criterion_hash(criterion, at(commit)) != today:
            break
        last = commit
    return last or "uncommitted"


def criteria_table(name: str) -> str:
    from adamlab.experiments.registry import get_experiment

    lines = ["| claim (criterion key) | identified by | criterion last changed in |",
             "|---|---|---|"]
    for criterion in get_experiment(name).criteria:
        lines.append(f"| {criterion.key} | {criterion.phrase} | {last_change(criterion)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="EXPERIMENTS.md", type=Path)
    parser.add_argument("--results-root", type=Path)
    options = parser.parse_args()
    options.path.write_text(refresh(options.path.read_text(), options.results_root))


if __name__ == "__main__":
    main()
