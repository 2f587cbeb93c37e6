"""The passes and export-c commands, byte-exact copies when nothing changes, size accounting,
output-path errors and the info table's fit to the terminal."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from _cli import run, run_json

import tflitekit
from tflitekit import Model, OperatorCode, Tensor
from tflitekit.analysis.size import SizeChange
from tflitekit.cli._table import abbreviations
from tflitekit.cli.surgery import PASSES, _difference
from tflitekit.options import BuiltinOperator


@pytest.fixture
def named(tmp_path: Path, runnable_model: Callable[[], Model]) -> Path:
    path = tmp_path / "named.tflite"
    runnable_model().save(path)
    return path


# -- passes ----------------------------------------------------------------------------------------


def test_every_pass_is_listed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "passes", "--list")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names == list(PASSES) and len(names) == 13
    exported = {name for name in dir(tflitekit.passes) if name[:1].isupper()}
    classes = {"AddFloatIO", "DedupeBuffers", "ExposeIntermediates", "FoldConstants", "Prune",
               "RandomizeWeights", "RenameTensors", "ReorderForMemory", "SetBatchSize",
               "StripFloatIO", "StripStrings", "TopologicalSort"}
    assert classes <= exported  # every pass class is offered (plus the optimize pipeline)
    assert all(len(line) < 100 for line in out.splitlines())


def test_strip_strings_through_the_cli(capsys: pytest.CaptureFixture[str], named: Path,
                                       tmp_path: Path) -> None:
    out = tmp_path / "stripped.tflite"
    report = run_json(capsys, "passes", named, out, "strip-strings")
    assert report["modified"] and report["written"] == "re-encoded"
    assert report["bytes_after"] == out.stat().st_size < report["bytes_before"]
    assert [p["name"] for p in report["passes"]] == ["strip_strings"]
    model = tflitekit.load(out)
    assert model.description is None and all(t.name is None for t in model.tensors())
    kept = tmp_path / "kept.tflite"
    run_json(capsys, "passes", named, kept, "strip_strings", "--keep-io-names")
    assert [t.name for t in tflitekit.load(kept).main.inputs] == ["x"]


def test_passes_in_order_with_options(capsys: pytest.CaptureFixture[str], named: Path,
                                      tmp_path: Path) -> None:
    out = tmp_path / "out.tflite"
    report = run_json(capsys, "passes", named, out, "rename-tensors", "set-batch-size",
                      "randomize-weights", "--rename", "x=image", "--batch-size", "4",
                      "--seed", "7")
    assert [p["name"] for p in report["passes"]] == [
        "rename_tensors", "set_batch_size", "randomize_weights"]
    g = tflitekit.load(out).main
    assert g.inputs[0].name == "image" and g.inputs[0].shape[0] == 4
    again = tmp_path / "again.tflite"
    run_json(capsys, "passes", named, again, "rename-tensors", "set-batch-size",
             "randomize-weights", "--rename", "x=image", "--batch-size", "4", "--seed", "7")
    assert again.read_bytes() == out.read_bytes()  # the seed makes it reproducible


@pytest.mark.parametrize(("argv", "expected"), [
    (["set-batch-size"], "needs --batch-size"),
    (["rename-tensors"], "needs at least one --rename"),
    (["rename-tensors", "--rename", "x"], "expected OLD=NEW"),
    (["rename-tensors", "--rename", "=x"], "expected OLD=NEW"),
    (["prune", "--seed", "3"], "--seed applies to randomize-weights"),
    (["prune", "--batch-size", "3"], "--batch-size applies to set-batch-size"),
    (["randomize-weights", "--seed", "-1"], "--seed must be a non-negative integer"),
])
def test_passes_option_errors_are_bad_usage(capsys: pytest.CaptureFixture[str], named: Path,
                                            tmp_path: Path, argv: list[str],
                                            expected: str) -> None:
    """An option without its pass, or a missing or malformed value, exits 2 as argparse's own
    usage errors do (these exited 1 before)."""
    out = tmp_path / "out.tflite"
    code, text, err = run(capsys, "passes", named, out, *argv)
    assert code == 2 and text == "" and expected in err and len(err.splitlines()) == 1
    assert err.startswith("tflitekit: error: ") and not out.exists()


def test_passes_error_names_the_input(capsys: pytest.CaptureFixture[str], named: Path,
                                      tmp_path: Path) -> None:
    """A pass that cannot do what was asked is a problem (exit 1), named by IN and the step."""
    out = tmp_path / "out.tflite"
    code, text, err = run(capsys, "passes", named, out, "rename-tensors", "--rename", "nope=x")
    assert code == 1 and text == "" and len(err.splitlines()) == 1
    assert err.startswith(f"tflitekit: error: {named}: ") and "step 1 (rename_tensors)" in err
    assert "'nope'" in err and not out.exists()


def test_passes_bad_usage(capsys: pytest.CaptureFixture[str], named: Path,
                          tmp_path: Path) -> None:
    assert run(capsys, "passes", named, tmp_path / "o.tflite", "frobnicate")[0] == 2
    assert run(capsys, "passes", named, tmp_path / "o.tflite")[0] == 2
    assert run(capsys, "passes", named, tmp_path / "o.tflite", "set-batch-size",
               "--batch-size", "0")[0] == 2


# -- nothing to change: a byte-identical copy; otherwise every byte accounted for ------------------


def _padded(runnable_model: Callable[[], Model], tmp_path: Path) -> Path:
    """A file our writer would lay out differently: re-encoding alone changes its size."""
    model = runnable_model()
    model.data_alignment = 64
    path = tmp_path / "padded.tflite"
    model.save(path)
    return path


@pytest.mark.parametrize("command", [["prune"], ["optimize"], ["strip-float-io"],
                                     ["passes", "prune", "dedupe-buffers"]])
def test_unchanged_is_copied_byte_for_byte(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           runnable_model: Callable[[], Model],
                                           command: list[str]) -> None:
    source = _padded(runnable_model, tmp_path)
    assert len(tflitekit.load(source).to_bytes(reencode=True)) != source.stat().st_size
    out = tmp_path / "out.tflite"
    code, text, err = run(capsys, command[0], source, out, *command[1:])
    assert code == 0, err
    assert out.read_bytes() == source.read_bytes()
    assert "nothing to change" in text and text.splitlines()[-1].endswith("copied unchanged")
    report = run_json(capsys, command[0], source, out, *command[1:], "--overwrite")
    assert report["written"] == "copied" and report["bytes_saved"] == 0


def test_changed_model_accounts_for_reencoding(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path,
                                               runnable_model: Callable[[], Model]) -> None:
    model = runnable_model()
    model.data_alignment = 64
    model.operator_codes.append(OperatorCode(BuiltinOperator.TANH))
    source = tmp_path / "padded.tflite"
    model.save(source)
    out = tmp_path / "out.tflite"
    report = run_json(capsys, "prune", source, out)
    before, after = source.stat().st_size, out.stat().st_size
    reencoded = len(tflitekit.load(source).to_bytes(reencode=True))
    assert report["bytes_reencoded"] == reencoded
    assert report["bytes_from_encoding"] == reencoded - before != 0
    assert report["bytes_from_encoding"] + report["bytes_from_changes"] == after - before
    code, text, _ = run(capsys, "prune", source, out, "--overwrite")
    size = SizeChange(before, after, reencoded)
    assert text.splitlines()[-1] == (
        f"{source} ({before:,} bytes) -> {out} ({after:,} bytes): {_difference(size)}")
    assert f"{after - before:+,} bytes" in text and "from re-encoding" in text and code == 0


def test_report_of_a_change_that_keeps_the_size(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path,
                                                runnable_model: Callable[[], Model]) -> None:
    """Renaming to a name of the same length changes nothing in size: the whole difference is
    the writer's layout, said so in words."""
    source = _padded(runnable_model, tmp_path)
    out = tmp_path / "out.tflite"
    code, text, err = run(capsys, "passes", source, out, "rename-tensors", "--rename", "x=z")
    assert code == 0, err
    before, after = source.stat().st_size, out.stat().st_size
    assert before != after
    last = text.splitlines()[-1]
    assert f": {after - before:+,} bytes (" in last
    assert last.endswith(", all from re-encoding (the changes themselves: +0)")
    assert "0.0%" not in text and "unchanged" not in text


@pytest.mark.parametrize(("before", "after", "reencoded", "expected"), [
    (53_736, 53_728, 53_728, "-8 bytes, all from re-encoding (the changes themselves: +0)"),
    (2_000, 1_760, 2_000, "-240 bytes (-12.0%), all from the changes"),
    (1_000, 999, 1_000, "-1 byte (-0.1%), all from the changes"),
    (100_000, 99_950, 100_000, "-50 bytes, all from the changes"),  # under 0.1 %: no percentage
    (1_000, 1_000, 1_008, "+0 bytes: -8 from the changes, +8 from re-encoding"),
    (1_000, 1_000, 1_000, "the same size"),
    (10_000, 9_000, 10_100, "-1,000 bytes (-10.0%): -1,100 from the changes, "
                            "+100 from re-encoding"),
])
def test_size_difference_wording(before: int, after: int, reencoded: int,
                                 expected: str) -> None:
    assert _difference(SizeChange(before, after, reencoded)) == expected


def test_same_file_advises_the_flag(capsys: pytest.CaptureFixture[str], named: Path) -> None:
    original = named.read_bytes()
    for command in (["prune"], ["passes", "strip-strings"]):
        code, _, err = run(capsys, command[0], named, named, *command[1:])
        assert code == 1 and "--overwrite" in err and "overwrite=True" not in err
    assert named.read_bytes() == original
    code, _, err = run(capsys, "passes", named, named, "strip-strings", "--overwrite")
    assert code == 0, err
    assert tflitekit.load(named).description is None


@pytest.mark.parametrize("where", ["missing/dir/out.tflite", "", "DIR"])
def test_output_path_errors_name_the_path(capsys: pytest.CaptureFixture[str], named: Path,
                                          tmp_path: Path, where: str) -> None:
    target = str(tmp_path) if where == "DIR" else (str(tmp_path / where) if where else "")
    for command in (["prune"], ["passes", "strip-strings"]):
        code, text, err = run(capsys, command[0], named, target, *command[1:])
        assert code == 1 and text == "" and len(err.splitlines()) == 1
        assert ".tmp" not in err and (target in err if target else "''" in err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["named.tflite"]


# -- export-c --------------------------------------------------------------------------------------


def _array_bytes(source: str, name: str) -> bytes:
    body = re.search(rf"alignas\(\d+\) const unsigned char {name}\[\] = \{{(.*?)\}};", source,
                     re.S)
    assert body is not None
    return bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", body.group(1)))


def test_export_c_text(capsys: pytest.CaptureFixture[str], named: Path, tmp_path: Path) -> None:
    out = tmp_path / "model_data.cc"
    report = run_json(capsys, "export-c", named, "-o", out, "--name", "g_kws", "--align", "32")
    source = out.read_text()
    header = (tmp_path / "model_data.h").read_text()
    data = named.read_bytes()
    assert report["bytes"] == len(data) and report["header"] == str(tmp_path / "model_data.h")
    assert _array_bytes(source, "g_kws") == data
    assert "alignas(32) const unsigned char g_kws[] = {" in source
    assert f"const unsigned int g_kws_len = {len(data)};" in source
    assert '#include "model_data.h"' in source
    assert "extern const unsigned char g_kws[];" in header
    assert "extern const unsigned int g_kws_len;" in header
    assert "#ifndef MODEL_DATA_H_" in header


@pytest.mark.parametrize(("argv", "expected"), [
    (["--name", "1bad"], "not a valid C identifier"),
    (["--name", "int"], "not a valid C identifier"),
    (["--name", "my model"], "not a valid C identifier"),
    (["--align", "12"], "power of two"),
    (["--align", "3"], "power of two"),
    (["--align", "0"], "power of two"),
])
def test_export_c_bad_usage(capsys: pytest.CaptureFixture[str], named: Path, tmp_path: Path,
                            argv: list[str], expected: str) -> None:
    """A bad --name or --align is bad usage (exit 2; these exited 1 before), found before any
    file is read or written."""
    code, _, err = run(capsys, "export-c", named, "-o", tmp_path / "m.cc", *argv)
    assert code == 2 and expected in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["named.tflite"]
    code, _, err = run(capsys, "export-c", tmp_path / "missing.tflite", "-o", tmp_path / "m.cc",
                       *argv)
    assert code == 2 and expected in err


def test_export_c_never_overwrites_the_input(capsys: pytest.CaptureFixture[str], named: Path,
                                             tmp_path: Path) -> None:
    original = named.read_bytes()
    code, _, err = run(capsys, "export-c", named, "-o", named)
    assert code == 1 and "refusing to overwrite" in err
    code, _, err = run(capsys, "export-c", named, "-o", tmp_path / "x.cc", "--header", named)
    assert code == 1 and named.read_bytes() == original
    garbage = tmp_path / "text.tflite"
    garbage.write_text("hello world, not a model at all\n")
    code, _, err = run(capsys, "export-c", garbage, "-o", tmp_path / "g.cc")
    assert code == 1 and str(garbage) in err and not (tmp_path / "g.cc").exists()


@pytest.mark.parametrize(("compiler", "suffix"), [("g++", ".cc"), ("gcc", ".c")])
def test_export_c_compiles(capsys: pytest.CaptureFixture[str], named: Path, tmp_path: Path,
                           compiler: str, suffix: str) -> None:
    """The generated source compiles; a program linked with it sees the file's bytes, aligned."""
    if shutil.which(compiler) is None:
        pytest.skip(f"no {compiler} on this machine")
    source = tmp_path / f"model_data{suffix}"
    run_json(capsys, "export-c", named, "-o", source)
    main_file = tmp_path / f"main{suffix}"
    main_file.write_text(
        '#include <stdio.h>\n#include <stdint.h>\n#include "model_data.h"\n'
        "int main(void) {\n"
        "  if ((uintptr_t)g_model % 16 != 0) return 3;\n"
        "  fwrite(g_model, 1, g_model_len, stdout);\n  return 0;\n}\n")
    exe = tmp_path / "dump_model"
    subprocess.run([compiler, "-Wall", "-Werror", "-o", str(exe), str(main_file), str(source)],
                   check=True, capture_output=True, cwd=tmp_path)
    proc = subprocess.run([str(exe)], capture_output=True, check=False)
    assert proc.returncode == 0 and proc.stdout == named.read_bytes()


# -- info ------------------------------------------------------------------------------------------


def test_info_fits_the_terminal(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Long converter names that differ only in the middle stay distinct, every line fits,
    and --wide shows everything in full."""
    m = Model()
    g = m.add_subgraph()
    x = g.add_input(Tensor("input", (1, 8), "float32"))
    names = [f"model/block_{k}/batch_normalization/FusedBatchNormV3;model/conv/Conv2D"
             for k in range(3)]
    t = x
    for name in names:
        c = Tensor.constant(name + "/bias", np.ones((1, 8), np.float32))
        y = Tensor(name, (1, 8), "float32")
        g.add_operator(BuiltinOperator.ADD, [t, c], [y])
        t = y
    g.add_output(t)
    m.operator_codes.append(OperatorCode(BuiltinOperator.TANH))
    path = tmp_path / "long.tflite"
    m.save(path)
    for columns in (60, 80, 120):
        monkeypatch.setenv("COLUMNS", str(columns))
        code, out, _ = run(capsys, "info", path)
        assert code == 0
        table = out[out.index("  Operators ("):].splitlines()[1:]
        assert all(len(line) <= max(columns, 100) for line in table), columns
        shown = re.findall(r"#(\d+) (\S+?)(?:,|\s|$)", "\n".join(table))
        by_index: dict[str, set[str]] = {}
        for index, name in shown:
            by_index.setdefault(name, set()).add(index)
        assert all(len(indices) == 1 for indices in by_index.values()), by_index
        assert "unused (prune removes it)" in out and "Operator codes (2, 1 unused)" in out
        assert "no digest" in out
    code, out, _ = run(capsys, "info", path, "--wide")
    assert all(name in out for name in names)


def test_abbreviations_keep_names_distinct() -> None:
    names = [f"prefix/{'a' * 30}/{k}/{'b' * 30}" for k in range(12)] + ["short", "x" * 80]
    short = abbreviations(names, 20)
    assert len(set(short.values())) == len(names)
    assert short["short"] == "short" and all(len(s) <= 20 for s in short.values())


def test_info_shows_a_verified_digest(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                      runnable_model: Callable[[], Model]) -> None:
    path = tmp_path / "signed.tflite"
    model = runnable_model()
    model.save(path, digest=True)
    code, out, _ = run(capsys, "info", path)
    assert code == 0 and "SHA-256 digest present, verified" in out
    data = bytearray(path.read_bytes())
    weights = max((t.data for t in model.tensors() if t.data is not None), key=len)
    data[data.find(weights.tobytes())] ^= 0xFF  # damage a weight, not the structure
    path.write_bytes(bytes(data))
    code, out, err = run(capsys, "info", path)
    assert code == 1 and "SHA-256" in err


# -- the corpus ------------------------------------------------------------------------------------


@pytest.mark.corpus
def test_corpus_strip_strings_saves(capsys: pytest.CaptureFixture[str], corpus_paths: list[Path],
                                    tmp_path: Path) -> None:
    path = next(p for p in corpus_paths if p.name == "visual_wake_words.tflite")
    report = run_json(capsys, "passes", path, tmp_path / "out.tflite", "strip-strings")
    assert report["bytes_saved"] / report["bytes_before"] > 0.04


@pytest.mark.corpus
def test_corpus_reports_account_for_every_byte(capsys: pytest.CaptureFixture[str],
                                               corpus_paths: list[Path],
                                               tmp_path: Path) -> None:
    out = tmp_path / "out.tflite"
    for path in corpus_paths:
        reencoded = len(tflitekit.load(path).to_bytes(reencode=True))
        for command in (["prune"], ["optimize"], ["strip-float-io"],
                        ["passes", "strip-strings"]):
            report = run_json(capsys, command[0], path, out, *command[1:], "--overwrite")
            assert report["bytes_after"] == out.stat().st_size
            if report["modified"]:
                assert report["bytes_reencoded"] == reencoded, (path.name, command)
                assert (report["bytes_from_encoding"] + report["bytes_from_changes"]
                        == report["bytes_after"] - report["bytes_before"])
            else:
                assert out.read_bytes() == path.read_bytes(), (path.name, command)


@pytest.mark.corpus
def test_corpus_info_shows_sl_params(capsys: pytest.CaptureFixture[str],
                                     corpus_paths: list[Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    for path in corpus_paths:
        code, out, _ = run(capsys, "info", path)
        assert code == 0 and "SL_PARAMSv1 (" in out and "classes" in out
        table = out[out.index("  Operators ("):].splitlines()
        # 100 columns, or a little more where names must be longer to stay distinct
        assert max(map(len, table)) <= 115, path.name
        assert sum(len(line) > 100 for line in table) < len(table) // 4, path.name
