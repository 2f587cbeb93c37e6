#!/usr/bin/env python3
"""Convert a few corpus models with xmos' ``xcore-opt`` into real third-party test files.

``xcore-opt`` (PyPI ``xmos-ai-tools``) rewrites a TFLite model for the XMOS xcore.ai: custom
operators, a shared-config metadata entry, its own flatbuffer writer. Its output is an optional,
test-only oracle of tflitekit (the ``xcore`` pytest tier); install it with
``pip install --no-deps xmos-ai-tools``. It is never a dependency of tflitekit.

Usage::

    python scripts/convert_xcore.py [--corpus DIR] [--out DIR] [MODEL ...]

``DIR`` (the corpus, as made by ``scripts/fetch_corpus.py``) defaults to ``$TFLITEKIT_CORPUS``,
else ``~/.cache/tflitekit/corpus``; the output defaults to ``DIR/xcore``. MODEL names are corpus
stems (default: :data:`MODELS`). Every model is converted with the same fixed options
(:data:`OPTIONS`), so the same ``xmos-ai-tools`` version gives the same layout and sizes (not
quite the same bytes: xcore-opt 1.4.2 leaves uninitialised memory in the padding of its
``xcoreSharedConfig`` metadata buffer). ``OUT/manifest.json`` records the version, the options
and each file's size and SHA-256.
Exits 1 when ``xmos-ai-tools`` is missing or a conversion fails.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from tflitekit.testing import corpus_dir

PACKAGE = "xmos-ai-tools"
MODELS = ("tflite_micro_speech", "keyword_spotting_on_off_v3", "anomaly_detection")
#: Fixed converter options: the conversion depends on nothing but the input and the version.
OPTIONS = ("--xcore-target-arch=XS3A", "--xcore-thread-count=1")
MANIFEST_VERSION = 1


class ConvertError(Exception):
    """The converter is missing or failed."""


def find_converter() -> tuple[Path, str]:
    """The ``xcore-opt`` executable and the installed ``xmos-ai-tools`` version."""
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ConvertError(f"{PACKAGE} is not installed "
                           f"(pip install --no-deps {PACKAGE})") from None
    candidates = [Path(sysconfig.get_path("scripts")) / "xcore-opt",
                  Path(sys.executable).parent / "xcore-opt"]
    found = shutil.which("xcore-opt")
    candidates += [Path(found)] if found else []
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path, version
    raise ConvertError(f"{PACKAGE} {version} is installed but its xcore-opt executable was not "
                       "found (reinstall it: pip install --no-deps --force-reinstall "
                       f"{PACKAGE})")


def convert(source: Path, target: Path, converter: Path) -> None:
    """Convert ``source`` into ``target`` (only the ``.tflite``; the C++ files it also writes
    are dropped)."""
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / target.name
        result = subprocess.run([str(converter), *OPTIONS, "-o", str(out), str(source)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0 or not out.is_file():
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
            raise ConvertError(f"xcore-opt failed on {source.name} (exit {result.returncode})"
                               + (f": {detail[-1]}" if detail else ""))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(out), target)


def convert_all(corpus: Path, out_dir: Path, names: tuple[str, ...]) -> dict[str, object]:
    """Convert ``names`` from ``corpus/models`` into ``out_dir``; returns the manifest."""
    converter, version = find_converter()
    models = []
    for name in names:
        source = corpus / "models" / f"{name}.tflite"
        if not source.is_file():
            raise ConvertError(f"{source} does not exist (run scripts/fetch_corpus.py first)")
        target = out_dir / f"{name}.tflite"
        convert(source, target, converter)
        data = target.read_bytes()
        models.append({"name": name, "file": target.name, "source": source.name,
                       "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    manifest: dict[str, object] = {"manifest_version": MANIFEST_VERSION, "package": PACKAGE,
                                   "version": version, "options": list(OPTIONS),
                                   "models": models}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("models", nargs="*", default=list(MODELS), metavar="MODEL",
                        help=f"corpus model stems (default: {' '.join(MODELS)})")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="corpus directory (default: $TFLITEKIT_CORPUS or "
                             "~/.cache/tflitekit/corpus)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default: CORPUS/xcore)")
    args = parser.parse_args(argv)
    corpus: Path = args.corpus.expanduser() if args.corpus else corpus_dir()
    out_dir: Path = args.out.expanduser() if args.out else corpus / "xcore"
    try:
        manifest = convert_all(corpus, out_dir, tuple(args.models))
    except (ConvertError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    models = manifest["models"]
    assert isinstance(models, list)
    print(f"{len(models)} models converted with {PACKAGE} {manifest['version']} into {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
