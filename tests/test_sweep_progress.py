"""Progress when stderr is not a terminal: plain lines at every tenth of the sweep and at most
every 10 s between, flushed as they happen; the bar keeps its counts at 80 columns."""

from __future__ import annotations

import io
import re
import sys

from rich.console import Console
from sweep_testing import quick_sweep

from adamlab.cli.app import main
from adamlab.cli.progress import ProgressLines


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_line_at_every_tenth_and_at_most_every_ten_seconds_between():
    clock = Clock()
    out = io.StringIO()
    lines = ProgressLines(Console(file=out, width=200), clock=clock)
    lines.start("s", total=100, done=20)
    statuses = ["finished"] * 75 + ["diverged"] * 3 + ["failed"] * 2
    for n, status in enumerate(statuses, 1):
        clock.now = 3.0 * n  # 3 s a trial: a line every 4th trial at most, by time
        lines.ended(status)
    printed = out.getvalue().splitlines()
    done = [int(re.search(r": (\d+)/100 trials", line).group(1)) for line in printed]
    assert done[0] == 20 and done[-1] == 100
    assert {30, 40, 50, 60, 70, 80, 90, 100} <= set(done)  # every tenth
    assert all(b - a <= 4 for a, b in zip(done, done[1:], strict=False))  # >= every 12 s
    assert len(done) < 30  # not a line a trial
    assert printed[-1] == ("sweep s: 100/100 trials done (2 failed, 3 diverged), 0:04:00 elapsed, "
                           "eta 0:00:00")
    assert "eta 0:03:00" in printed[done.index(40)]  # 20 run in 60 s, 60 to go


def test_a_heartbeat_line_while_a_long_stack_runs_and_none_after_the_end():
    clock = Clock()
    out = io.StringIO()
    lines = ProgressLines(Console(file=out, width=200), clock=clock, every_s=10)
    lines.start("s", total=4, done=0)
    try:
        for now in (5, 9.9):  # under 10 s since the last line: nothing
            clock.now = now
            lines.tick()
        assert len(out.getvalue().splitlines()) == 1
        clock.now = 10
        lines.tick()
        clock.now = 15
        lines.tick()
        printed = out.getvalue().splitlines()
        assert printed[-1] == "sweep s: 0/4 trials done (0 failed, 0 diverged), 0:00:10 elapsed, eta ?"
        assert len(printed) == 2
        for status in ("finished",) * 4:
            lines.ended(status)
        clock.now = 100
        lines.tick()  # every trial ended: the sweep's last line stays the last
        assert out.getvalue().splitlines()[-1].startswith("sweep s: 4/4 trials done")
    finally:
        lines.stop()


def test_a_piped_sweep_prints_progress_lines_before_it_ends(tmp_path, monkeypatch):
    """stdout and stderr are pipes (not terminals): what is written, in order, shows the
    progress lines reach the stream while the trials still run, before the summary."""
    written: list[tuple[str, str]] = []

    class Pipe(io.StringIO):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def write(self, text):
            written.append((self.name, text))
            return super().write(text)

        def isatty(self):
            return False

    monkeypatch.setattr(sys, "stdout", Pipe("out"))
    monkeypatch.setattr(sys, "stderr", Pipe("err"))
    config = quick_sweep(tmp_path, steps=10)
    assert main(["sweep", str(config), "-o", str(tmp_path / "out"), "--stack-size", "1",
                 "--jobs", "1"]) == 0
    text = [(name, chunk) for name, chunk in written if chunk.strip()]
    progress = [i for i, (name, chunk) in enumerate(text)
                if name == "err" and re.search(r"sweep quick: \d+/12 trials done", chunk)]
    summary = next(i for i, (name, chunk) in enumerate(text) if chunk.startswith("Sweep quick"))
    assert len(progress) >= 10  # 12 trials: a line at each tenth at least
    assert "sweep quick: 0/12 trials done" in text[progress[0]][1]
    assert "sweep quick: 2/12 trials done" in text[progress[1]][1]  # 1/12 is under a tenth
    assert "sweep quick: 12/12 trials done" in text[progress[-1]][1]
    assert progress[-1] < summary
    assert not any("\x1b[" in chunk for _, chunk in text)  # no bar, no colour codes in a log


def test_the_bar_keeps_its_counts_at_80_columns():
    from adamlab.cli.progress import SweepProgress

    progress = SweepProgress(quiet=False, live=True)
    task = progress.progress.add_task("a_long_sweep_name_that_is_long", total=1200,
                                      completed=17, current="adam lr=0.001 beta2=0.999 seed=3 "
                                      "and a very long label")
    line = progress.progress.make_tasks_table([progress.progress.tasks[task]])
    out = Console(file=io.StringIO(), width=80)
    out.print(line)
    rendered = out.file.getvalue()
    assert "17/1200" in rendered and "eta" in rendered and "0:00:00" in rendered
    assert max(len(x) for x in rendered.splitlines()) <= 80
