"""What loading and saving say when they fail: one line naming the user's path and the cause,
never an internal temporary file, a background thread's traceback or a leftover file."""

from __future__ import annotations

import errno
import gc
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tflitekit
from tflitekit import FormatError, Model, TFLiteKitError
from tflitekit.errors import OverwriteError, SaveError
from tflitekit.serde import write as serde_write


def _no_space(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _single_line_about(exc: BaseException, path: Path | str) -> str:
    message = str(exc)
    assert "\n" not in message and ".tmp" not in message, message
    assert message.startswith(f"cannot write {path}: "), message
    return message


@pytest.fixture
def loaded(tmp_path: Path, runnable_bytes: bytes) -> Model:
    """A model loaded from a file: a re-encoding save copies the file in a background thread
    and patches it; a plain save of the unchanged model copies the file."""
    source = tmp_path / "source.tflite"
    source.write_bytes(runnable_bytes)
    return tflitekit.load(source)


def test_full_disk_while_copying_the_source(tmp_path: Path, loaded: Model,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    thread_errors: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", thread_errors.append)
    monkeypatch.setattr(serde_write, "copy_chunk", _no_space)
    out = tmp_path / "out.tflite"
    with pytest.raises(SaveError) as info:
        loaded.save(out, reencode=True)
    assert thread_errors == [], "the copy thread's exception escaped as a traceback"
    assert _single_line_about(info.value, out).endswith("No space left on device")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(out)
    assert isinstance(info.value, OSError) and isinstance(info.value, TFLiteKitError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.tflite"]


@pytest.mark.parametrize("case", ["built", "re-encoded", "verbatim"])
def test_full_disk_while_writing(tmp_path: Path, runnable_model: Callable[[], Model],
                                 loaded: Model, monkeypatch: pytest.MonkeyPatch,
                                 case: str) -> None:
    monkeypatch.setattr(serde_write, "patch_parts" if case == "re-encoded" else "write_parts",
                        _no_space)
    model = runnable_model() if case == "built" else loaded
    out = tmp_path / "out.tflite"
    with pytest.raises(SaveError) as info:
        model.save(out, reencode=case == "re-encoded")
    assert _single_line_about(info.value, out).endswith("No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.tflite"]


def test_missing_directory_names_the_users_path(tmp_path: Path, loaded: Model) -> None:
    out = tmp_path / "nowhere" / "out.tflite"
    with pytest.raises(SaveError) as info:
        loaded.save(out)
    assert str(info.value) == (f"cannot write {out}: directory {tmp_path / 'nowhere'} "
                               "does not exist")
    assert info.value.errno == errno.ENOENT and info.value.filename == str(out)
    with pytest.raises(OSError):  # still caught by code that caught the raw OSError
        loaded.save(out)


def test_parent_that_is_a_file(tmp_path: Path, loaded: Model) -> None:
    (tmp_path / "file").write_bytes(b"")
    out = tmp_path / "file" / "out.tflite"
    with pytest.raises(SaveError) as info:
        loaded.save(out)
    assert str(info.value) == f"cannot write {out}: {tmp_path / 'file'} is not a directory"


def test_output_that_is_a_directory(tmp_path: Path, loaded: Model) -> None:
    out = tmp_path / "models"
    out.mkdir()
    with pytest.raises(SaveError) as info:
        loaded.save(out)
    assert str(info.value) == f"cannot write {out}: it is a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models", "source.tflite"]
    assert list(out.iterdir()) == []


def test_empty_output_path(tmp_path: Path, loaded: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SaveError, match=r"^cannot write '': the output path is empty$"):
        loaded.save("")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.tflite"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_directory(tmp_path: Path, loaded: Model) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(SaveError) as info:
        loaded.save(locked / "out.tflite")
    assert str(info.value) == f"cannot write {locked / 'out.tflite'}: Permission denied"


def test_overwriting_the_source_is_a_dedicated_error(tmp_path: Path, loaded: Model) -> None:
    with pytest.raises(OverwriteError) as info:
        loaded.save(tmp_path / "source.tflite")
    assert isinstance(info.value, FileExistsError) and isinstance(info.value, TFLiteKitError)
    assert info.value.filename == str(tmp_path / "source.tflite")
    assert "overwrite=True" in str(info.value)


# ------------------------------------------------------------------------------------------------
# loading something that is not a model
# ------------------------------------------------------------------------------------------------


def test_text_file_is_not_a_tflite_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("hello world, these are my notes\n")
    want = "notes.txt: not a TFLite model (no 'TFL3' file identifier; starts with b'hello wo')"
    with pytest.raises(FormatError) as info:
        tflitekit.load("notes.txt")
    assert str(info.value) == want
    assert [p.message for p in tflitekit.validate("notes.txt")] == [want]
    with pytest.raises(FormatError, match=r"^not a TFLite model \(no 'TFL3'"):
        tflitekit.load(b"hello world")


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_dev_null_and_empty_files() -> None:
    with pytest.raises(FormatError, match=r"^/dev/null: empty file, not a TFLite model$"):
        tflitekit.load("/dev/null")
    with pytest.raises(FormatError, match=r"^empty file, not a TFLite model$"):
        tflitekit.load(b"")


def test_unreadable_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"^cannot open .*missing\.tflite: No such file"):
        tflitekit.load(tmp_path / "missing.tflite")
    with pytest.raises(FormatError, match=r"^cannot open .*: Is a directory$"):
        tflitekit.load(tmp_path)


def test_damaged_model_errors_name_the_path(tmp_path: Path, runnable_bytes: bytes) -> None:
    path = tmp_path / "cut.tflite"
    path.write_bytes(runnable_bytes[:len(runnable_bytes) // 3])
    with pytest.raises(FormatError) as info:
        tflitekit.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: Model") and "not a TFLite model" not in message
    [problem] = tflitekit.validate(path)
    assert problem.message == message


def test_models_without_the_identifier_still_load(runnable_bytes: bytes) -> None:
    """Old converters wrote no file identifier: such files are models all the same."""
    assert runnable_bytes[4:8] == b"TFL3"
    bare = runnable_bytes[:4] + bytes(4) + runnable_bytes[8:]
    assert tflitekit.diff(tflitekit.load(bare), tflitekit.load(runnable_bytes)) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd (Linux)")
def test_a_failed_load_closes_its_file_at_once(tmp_path: Path, tiny_bytes: bytes) -> None:
    """Damage anywhere (also late, after buffers view the mapping): the file is closed before
    load() raises, without waiting for the garbage collector."""
    path = tmp_path / "bad.tflite"
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    failed = 0
    gc.disable()
    try:
        for at in range(8, len(tiny_bytes) - 8, 40):
            damaged = bytearray(tiny_bytes)
            damaged[at:at + 8] = b"\xff" * 8
            path.write_bytes(damaged)
            try:
                tflitekit.load(path).close()  # damage that loads (a name, a weight) is no error
            except tflitekit.FormatError:
                failed += 1
                assert len(os.listdir("/proc/self/fd")) == before, at
    finally:
        gc.enable()
    assert failed


def test_a_symlink_stays_a_link_to_the_new_file(tmp_path: Path, loaded: Model) -> None:
    target = tmp_path / "target.tflite"
    target.write_bytes(b"old")
    link = tmp_path / "link.tflite"
    link.symlink_to(target)
    loaded.save(link)
    assert link.is_symlink() and target.read_bytes() == loaded.to_bytes()


def test_an_existing_file_keeps_its_permissions(tmp_path: Path, loaded: Model) -> None:
    out = tmp_path / "out.tflite"
    out.write_bytes(b"old")
    out.chmod(0o640)
    loaded.save(out)
    assert out.stat().st_mode & 0o777 == 0o640 and out.read_bytes() == loaded.to_bytes()


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_character_device_is_written_into_not_replaced(loaded: Model) -> None:
    loaded.save("/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_pipe_is_refused(tmp_path: Path, loaded: Model) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(SaveError, match="not a regular file or a character device"):
        loaded.save(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_overwriting_an_unchanged_model_leaves_the_file_alone(tmp_path: Path,
                                                               runnable_bytes: bytes) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(runnable_bytes)
    inode = path.stat().st_ino
    with tflitekit.load(path) as model:
        model.save(path, overwrite=True)
        assert path.stat().st_ino == inode
        model.main.tensors[0].name = "renamed"
        model.save(path, overwrite=True)
    assert path.stat().st_ino != inode and tflitekit.load(path).main.tensors[0].name == "renamed"


@pytest.mark.skipif(not os.path.isfile("/proc/version"), reason="needs /proc (Linux)")
def test_a_directory_that_takes_no_new_files_is_not_called_missing(loaded: Model) -> None:
    with pytest.raises(SaveError) as info:
        loaded.save("/proc/version.tflite")
    assert "does not exist" not in str(info.value)
    assert str(info.value).startswith("cannot write /proc/version.tflite: cannot create a file")
