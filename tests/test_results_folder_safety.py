"""Links and foreign folders, on a real filesystem: a sweep, summary or
export never reads, writes or deletes anything outside its results folder, and says so in one line."""

from __future__ import annotations

import json
import os

import pytest
from sweep_testing import quick_sweep, records

from adamlab.cli.app import main


@pytest.fixture
def done(tmp_path):
    """A finished 12-trial sweep in tmp_path/out, and a file outside it that must stay as it is."""
    config = quick_sweep(tmp_path, steps=5)
    assert main(["sweep", str(config), "--out", str(tmp_path / "out"), "-q"]) == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    return config, tmp_path / "out", victim


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _tree(folder):
    return {p: (p.is_symlink(), p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in sorted(folder.rglob("*"))}


# ---------------------------------------------------------------- the lock, the folder's owner


def test_a_lock_linked_to_a_file_outside_is_refused_and_the_file_kept(done, capsys):
    config, out, victim = done
    (out / ".adamlab.lock").unlink()
    (out / ".adamlab.lock").symlink_to(victim)
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    assert _one_line(capsys) == (
        f"error: {out}/.adamlab.lock: a symbolic link, not a regular entry of the results folder; "
        f"adamlab reads and writes only the folder's own files: remove it, or use another --out"
    )
    assert victim.read_text() == "precious\n"


def test_a_lock_linked_to_a_missing_file_does_not_create_it(done, capsys):
    config, out, _ = done
    target = out.parent / "created-by-the-lock"
    (out / ".adamlab.lock").unlink()
    (out / ".adamlab.lock").symlink_to(target)
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    assert "a symbolic link" in _one_line(capsys)
    assert not target.exists()


def test_a_lock_hard_linked_to_a_file_outside_is_refused_and_the_file_kept(done, capsys):
    config, out, victim = done
    (out / ".adamlab.lock").unlink()
    os.link(victim, out / ".adamlab.lock")
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    assert "a file with 2 hard links, not a regular entry" in _one_line(capsys)
    assert victim.read_text() == "precious\n"


def test_a_folder_writable_by_every_user_needs_trust_folder(done, capsys):
    config, out, _ = done
    out.chmod(0o777)
    before = _tree(out)
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    assert _one_line(capsys) == (
        f"error: {out}: writable by every user (mode 0777): someone else could plant links in it "
        f"to make this sweep write elsewhere; use a folder of your own (--out), or pass "
        f"--trust-folder to write into it anyway"
    )
    assert _tree(out) == before
    assert main(["sweep", str(config), "--out", str(out), "-q", "--trust-folder"]) == 0


def test_a_trials_folder_writable_by_every_user_needs_trust_folder(done, capsys):
    config, out, _ = done
    (out / "trials").chmod(0o777)
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    assert f"{out}/trials: writable by every user (mode 0777)" in _one_line(capsys)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a folder to another user")
def test_a_folder_owned_by_another_user_needs_trust_folder(done, capsys):
    config, out, _ = done
    os.chown(out, 65534, 65534)
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    assert f"{out}: owned by another user (uid 65534)" in _one_line(capsys)
    assert main(["sweep", str(config), "--out", str(out), "-q", "--trust-folder"]) == 0


def test_new_folders_are_not_writable_by_every_user_whatever_the_umask(tmp_path):
    previous = os.umask(0)
    try:
        assert main(["sweep", str(quick_sweep(tmp_path, steps=5)), "--out", str(tmp_path / "new"), "-q"]) == 0
    finally:
        os.umask(previous)
    for folder in (tmp_path / "new", tmp_path / "new" / "trials"):
        assert not folder.stat().st_mode & 0o002


# ---------------------------------------------------------------- trials/, errors/, records


def test_trials_linked_to_another_folder_is_refused_and_that_folder_untouched(done, tmp_path, capsys):
    config, out, _ = done
    elsewhere = tmp_path / "elsewhere"
    (out / "trials").rename(elsewhere)
    (elsewhere / ".keep.abc.tmp").write_text("not a temporary of ours")
    (out / "trials").symlink_to(elsewhere, target_is_directory=True)
    before = _tree(elsewhere)
    for command in (["sweep", str(config), "--out", str(out), "-q"], ["summary", str(out)],
                    ["export", str(out)]):
        assert main(command) == 1
        assert _one_line(capsys) == (
            f"error: {out}/trials: a symbolic link, not a regular entry of the results folder; "
            f"adamlab reads and writes only the folder's own files: remove it, or use another --out"
        )
    assert _tree(elsewhere) == before


def test_errors_linked_to_another_folder_is_refused(done, tmp_path, capsys):
    config, out, _ = done
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ".x.abc.tmp").write_text("keep")
    (out / "errors").symlink_to(elsewhere, target_is_directory=True)
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    assert f"{out}/errors: a symbolic link" in _one_line(capsys)
    assert (elsewhere / ".x.abc.tmp").read_text() == "keep"


def test_a_record_linked_to_a_file_outside_is_not_read(done, tmp_path, capsys):
    config, out, _ = done
    record = sorted((out / "trials").glob("*.json"))[0]
    outside = tmp_path / "outside.json"
    record.rename(outside)
    record.symlink_to(outside)
    for command in (["sweep", str(config), "--out", str(out), "-q"], ["summary", str(out)]):
        assert main(command) == 1
        assert _one_line(capsys) == (
            f"error: {record}: a symbolic link, not a regular entry of the results folder; adamlab "
            f"reads and writes only the folder's own files: remove it, or use another --out"
        )


def test_a_named_pipe_under_a_record_name_does_not_hang(done, capsys):
    config, out, _ = done
    record = sorted((out / "trials").glob("*.json"))[0]
    record.unlink()
    os.mkfifo(record)
    assert main(["summary", str(out)]) == 1
    assert f"{record}: a named pipe, not a regular entry" in _one_line(capsys)


def test_temporaries_are_removed_only_inside_the_folder(done, tmp_path):
    config, out, victim = done
    outside_tmp = tmp_path / ".victim.txt.abc.tmp"
    outside_tmp.write_text("not ours")
    (out / ".link.abc.tmp").symlink_to(outside_tmp)  # a link: the link goes, not its target
    (out / "trials" / ".dir.abc.tmp").mkdir()  # a folder is never deleted
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 0
    assert outside_tmp.read_text() == "not ours"
    assert not (out / ".link.abc.tmp").is_symlink()
    assert (out / "trials" / ".dir.abc.tmp").is_dir()


def test_a_provenance_linked_outside_is_neither_read_nor_written(done, capsys):
    config, out, victim = done
    (out / "provenance.json").unlink()
    (out / "provenance.json").symlink_to(victim)
    assert main(["summary", str(out)]) == 1
    assert f"{out}/provenance.json: a symbolic link" in _one_line(capsys)
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 0
    assert victim.read_text() == "precious\n"
    aside = [p for p in out.iterdir() if p.name.startswith("provenance.json.unreadable-")]
    assert len(aside) == 1 and aside[0].is_symlink()  # the link itself, moved aside


# ---------------------------------------------------------------- an unreadable run history


def test_an_unreadable_provenance_is_moved_aside_and_said_never_overwritten(done, capsys):
    config, out, _ = done
    damaged = '{"runs": [{"started": "yesterday", "outcome": "comp'
    (out / "provenance.json").write_text(damaged)
    capsys.readouterr()
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    aside = [p for p in out.iterdir() if p.name.startswith("provenance.json.unreadable-")]
    assert len(aside) == 1 and aside[0].read_text() == damaged
    assert f"warning: {out}/provenance.json was unreadable (not valid JSON at line 1" in err
    assert f"kept as {aside[0].name}, and a new run history started" in err
    provenance = json.loads((out / "provenance.json").read_text())
    assert [r["outcome"] for r in provenance["runs"]] == ["completed"]
    assert provenance["runs"][0]["previous_provenance_moved_to"] == aside[0].name
    assert len(records(out)) == 12


def test_plots_linked_to_another_folder_is_refused(done, tmp_path, capsys):
    _, out, _ = done
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "plots").symlink_to(elsewhere, target_is_directory=True)
    assert main(["plot", str(out)]) == 1
    assert f"{out}/plots: a symbolic link" in _one_line(capsys)
    assert list(elsewhere.iterdir()) == []


def test_a_plot_name_linked_to_a_file_outside_is_replaced_not_followed(done, capsys):
    _, out, victim = done
    assert main(["plot", str(out)]) == 0
    first = sorted((out / "plots").glob("*.png"))[0]
    first.unlink()
    first.symlink_to(victim)
    assert main(["plot", str(out)]) == 0
    assert victim.read_text() == "precious\n"
    assert not first.is_symlink() and first.read_bytes().startswith(b"\x89PNG")


def test_a_file_where_trials_should_be_is_one_line(done, capsys):
    config, out, _ = done
    (out / "errors").write_text("not a folder")
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    assert _one_line(capsys) == (
        f"error: {out}/errors: a file where the results folder has a folder; remove it, or use another --out"
    )
