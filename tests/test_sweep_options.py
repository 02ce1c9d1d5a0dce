"""SweepOptions: every run option checked once, when the object is made, each bad value refused
in one line naming its flag and what it may be; the CLI and the Python API build the same object."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_testing import quick_sweep

import adamlab
from adamlab.cli.app import main
from adamlab.sweep import execute
from adamlab.sweep.options import OptionsError, SweepOptions


@pytest.mark.parametrize("keywords, message", [
    ({"jobs": 0}, "--jobs: must be an integer >= 1, got 0"),
    ({"jobs": 2.5}, "--jobs: must be an integer >= 1, got 2.5"),
    ({"threads": -1}, "--threads: must be an integer >= 1, got -1"),
    ({"stack_size": 0}, "--stack-size: must be auto or an integer >= 1, got 0"),
    ({"stack_size": "x"}, "--stack-size: must be auto or an integer >= 1, got 'x'"),
    ({"backend": "slurm"}, "--backend: must be one of local, ray, got 'slurm'"),
    ({"address": "h:1"}, "--address h:1: a Ray cluster address; it needs --backend ray"),
    ({"stale": "ignore"}, "stale: must be one of refuse, rerun, accept, got 'ignore'"),
    ({"retry_failed": "yes"}, "--retry-failed: must be true or false, got 'yes'"),
])
def test_a_bad_option_is_one_line_naming_its_flag(keywords, message):
    with pytest.raises(OptionsError) as caught:
        SweepOptions(**keywords)
    assert str(caught.value) == message


def test_good_options_are_kept_as_given_and_the_stack_size_resolved_against_the_files():
    options = SweepOptions(jobs=2, threads=1, stack_size="4", backend="ray", address="auto",
                           stale="accept", tensorboard="tb", argv=["adamlab", "sweep"])
    assert (options.jobs, options.threads, options.stack_size) == (2, 1, 4)
    assert options.tensorboard == Path("tb") and options.argv == ("adamlab", "sweep")
    assert options.stack_size_for(8) == 4
    assert SweepOptions().stack_size_for(8) == 8  # no flag: the file's
    assert SweepOptions(stack_size="auto").stack_size_for(8) is None
    with pytest.raises(AttributeError):
        options.jobs = 3  # frozen: checked once, never changed after


def test_an_unknown_keyword_is_named_with_the_allowed_ones():
    with pytest.raises(OptionsError, match="^rerun_stale: not a sweep option; allowed: jobs, threads"):
        SweepOptions.from_keywords(rerun_stale=True)


def test_the_cli_and_the_python_api_hand_the_executor_the_same_options(tmp_path, monkeypatch):
    seen = []
    real = execute.run_sweep

    def spy(sweep, options=None, **rest):
        seen.append(options)
        return real(sweep, options, **rest)

    monkeypatch.setattr(execute, "run_sweep", spy)
    monkeypatch.setattr("adamlab.api.execute", spy)
    config = quick_sweep(tmp_path, steps=5, seeds="[0]")
    assert main(["sweep", str(config), "-o", str(tmp_path / "cli"), "-q", "--jobs", "1",
                 "--threads", "1", "--stack-size", "2", "--retry-failed"]) == 0
    adamlab.run_sweep(config, out=tmp_path / "api", jobs=1, threads=1, stack_size=2, retry_failed=True)
    from_cli, from_api = seen
    assert from_cli.argv and from_api.argv is None
    assert {**vars(from_cli), "argv": None} == vars(from_api)


def test_a_bad_flag_exits_2_before_anything_is_written(tmp_path, capsys):
    config = quick_sweep(tmp_path, steps=5)
    out = tmp_path / "out"
    assert main(["sweep", str(config), "-o", str(out), "--address", "h:1"]) == 2
    assert capsys.readouterr().err == "error: --address h:1: a Ray cluster address; it needs --backend ray\n"
    assert not out.exists()
