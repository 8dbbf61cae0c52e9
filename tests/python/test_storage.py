"""The one way a file is replaced whole (``storage.write_atomic``): the new content or the old, never a
part, and nothing left behind by a write that failed."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifecycle import storage
from lifecycle.storage import write_atomic


@pytest.fixture
def umask() -> Iterator[int]:
    """A known umask for the test (the process's one is whatever the shell set), restored after."""
    previous = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(previous)


def test_the_content_is_replaced_whole_and_a_reader_keeps_the_old_file(tmp_path: Path):
    path = tmp_path / "record.json"
    path.write_text('{"a long": "old record that is longer than the new one"}\n')
    with path.open("rb") as reader:
        write_atomic(path, '{"new": "café"}\n')
        assert reader.read() == b'{"a long": "old record that is longer than the new one"}\n'
    assert path.read_bytes() == '{"new": "café"}\n'.encode()
    write_atomic(path, b"\x00bytes\xff")
    assert path.read_bytes() == b"\x00bytes\xff"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]


def test_the_parent_folders_are_created(tmp_path: Path):
    path = tmp_path / "state" / "deep" / "record.json"
    write_atomic(path, "{}")
    assert path.read_text() == "{}"


def test_without_a_mode_the_file_gets_the_umask_one_and_with_a_mode_exactly_that(tmp_path: Path, umask: int):
    path = tmp_path / "page.html"
    path.write_text("old")
    path.chmod(0o600)
    write_atomic(path, "new")  # a new file: the old one's mode is not carried over
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    write_atomic(path, "newer", mode=0o604)  # not masked by the umask (which would clear the 4 of others)
    assert stat.S_IMODE(path.stat().st_mode) == 0o604
    write_atomic(path, "kept", mode=stat.S_IMODE(path.stat().st_mode))
    assert (stat.S_IMODE(path.stat().st_mode), path.read_text()) == (0o604, "kept")


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
):
    path = tmp_path / "verdicts.json"
    path.write_text("old")

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, step, fail)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, "new" * 1000)
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verdicts.json"]


def test_the_bytes_are_on_disk_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    steps: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        steps.append("fsync")
        real_fsync(fd)

    def replace(source: str | Path, target: str | Path) -> None:
        steps.append("replace")
        real_replace(source, target)

    monkeypatch.setattr(storage.os, "fsync", fsync)
    monkeypatch.setattr(storage.os, "replace", replace)
    write_atomic(tmp_path / "state.json", "{}")
    assert steps == ["fsync", "replace"]


def test_each_write_has_its_own_hidden_temporary_file_beside_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Two writers of one file (library callers need not hold the data directory's lock) never share a
    temporary file; a leftover of a killed write is hidden and does not end in the target's suffix."""
    temporaries: list[Path] = []
    real_replace = os.replace

    def replace(source: str | Path, target: str | Path) -> None:
        temporaries.append(Path(source))
        real_replace(source, target)

    monkeypatch.setattr(storage.os, "replace", replace)
    path = tmp_path / "index.html"
    write_atomic(path, "one")
    write_atomic(path, "two")
    first, second = temporaries
    assert first != second
    for temporary in temporaries:
        assert temporary.parent == tmp_path
        assert temporary.name.startswith(".index.html.") and temporary.suffix == ".tmp"
        assert storage.is_unfinished_write(temporary)  # what a listing of data files leaves out
    for data_file in ("index.html", "index.tmp", ".hidden", ".index.html.tmp", ".a.b.notahex1.tmp"):
        assert not storage.is_unfinished_write(tmp_path / data_file), data_file


def test_an_unexpected_error_leaves_its_whole_traceback_in_the_error_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    import lifecycle.cli as cli

    def broken(*_: object) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setenv("LIFECYCLE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(cli, "_dispatch", broken)
    log = tmp_path / "state" / "last_error.log"
    log.parent.mkdir(parents=True)
    log.write_text("the traceback of an older error")
    assert cli.main(["status"]) == 1
    assert "RuntimeError: disk on fire" in log.read_text() and "older" not in log.read_text()
    assert [p.name for p in log.parent.iterdir()] == ["last_error.log"]  # no temporary file left
    assert f"(traceback: {log})" in capsys.readouterr().err
