"""Fixtures (wrapping :mod:`tflitekit.testing`), the real-model corpus, and the test tiers.

Tests that need a reference runtime carry ``@pytest.mark.litert`` or ``@pytest.mark.tflm``
(a test using the ``repack`` fixture needs ``tflm``), and tests of the other oracle tiers
``xcore``, ``train``, ``dask`` or ``browser``: each is skipped, naming what to install, when
its tool is missing.

Model factories are session-scoped fixtures returning functions, so that every test gets a fresh
model and hypothesis tests may use them too.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from _flatbuffer import Flat, repack_with_flatbuffers
from _scripts import load_script

import tflitekit
from tflitekit import Model, runtimes
from tflitekit.testing import build_runnable_model, build_tiny_model, corpus_dir

REPO = Path(__file__).resolve().parent.parent

# Every pass checks the model before and after it runs (tflitekit.passes.CHECK_ENV).
os.environ["TFLITEKIT_CHECK_PASSES"] = "1"

# Fixtures that need a runtime, as if the test carried its marker.
FIXTURE_RUNTIMES = {"repack": "tflm"}

# The optional tools of the other oracle tiers: marker -> (what is missing, how to get it).
TOOLS = {"xcore": ("xmos-ai-tools", "pip install --no-deps xmos-ai-tools tflite"),
         "train": ("tensorflow", "pip install tensorflow"),
         "dask": ("distributed", "pip install distributed"),
         "browser": ("a Chromium browser",
                     "apt-get install chromium (Debian), or put Chromium on PATH")}


def _tools() -> dict[str, bool]:
    """Which optional tools of the oracle tiers are present, keyed by marker."""
    return {"xcore": importlib.util.find_spec("xmos_ai_tools") is not None,
            "train": importlib.util.find_spec("tensorflow") is not None,
            "dask": importlib.util.find_spec("distributed") is not None,
            "browser": any(shutil.which(name) for name in
                           ("chromium", "chromium-browser", "google-chrome", "chrome"))}


# ------------------------------------------------------------------------------------------------
# Tiers: tests that need a missing runtime or tool are skipped, naming what to install
# ------------------------------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    have = {**runtimes.available(), **_tools()}
    for item in items:
        for fixture, runtime in FIXTURE_RUNTIMES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(runtime)
        missing = sorted({m.name for m in item.iter_markers() if not have.get(m.name, True)})
        if missing:
            needs = [(runtimes.package(m), f"pip install {runtimes.package(m)}")
                     if m not in TOOLS else TOOLS[m] for m in missing]
            item.add_marker(pytest.mark.skip(reason="needs " + " and ".join(
                f"{what} ({how})" for what, how in needs)))


# ------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def runnable_model() -> Callable[..., Model]:
    """Factory of the runnable int8 model (see :func:`tflitekit.testing.build_runnable_model`)."""
    return build_runnable_model


@pytest.fixture(scope="session")
def tiny_model() -> Callable[..., Model]:
    """Factory of the model that exercises every table of the schema
    (see :func:`tflitekit.testing.build_tiny_model`)."""
    return build_tiny_model


@pytest.fixture(scope="session")
def tiny_bytes() -> bytes:
    return build_tiny_model().to_bytes()


@pytest.fixture(scope="session")
def runnable_bytes() -> bytes:
    return build_runnable_model().to_bytes()


# ------------------------------------------------------------------------------------------------
# The corpus tier
# ------------------------------------------------------------------------------------------------


def corpus_models() -> list[Path]:
    models = corpus_dir() / "models"
    return sorted(models.glob("*.tflite")) if models.is_dir() else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "corpus_model" not in metafunc.fixturenames:
        return
    paths = corpus_models()
    if paths:
        metafunc.parametrize("corpus_model", paths, ids=[p.name for p in paths], indirect=True)
    else:
        # One placeholder so that the tier fails loudly (see the fixture) instead of collecting
        # nothing when the corpus is missing.
        metafunc.parametrize("corpus_model", [None], ids=["corpus-missing"], indirect=True)


def _missing_corpus_message() -> str:
    return (f"the model corpus is missing: no {corpus_dir() / 'models'}/*.tflite. Run "
            f"`python {REPO / 'scripts' / 'fetch_corpus.py'} --cache {corpus_dir()}` "
            "(or point TFLITEKIT_CORPUS at an existing corpus directory)")


@pytest.fixture
def corpus_model(request: pytest.FixtureRequest) -> Path:
    path = request.param
    if path is None:
        pytest.fail(_missing_corpus_message(), pytrace=False)
    return path  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def corpus_paths() -> list[Path]:
    paths = corpus_models()
    if not paths:
        pytest.fail(_missing_corpus_message(), pytrace=False)
    return paths


# ------------------------------------------------------------------------------------------------
# The xcore tier: corpus models converted by xcore-opt (scripts/convert_xcore.py)
# ------------------------------------------------------------------------------------------------


convert_xcore = load_script("convert_xcore")

#: The models the ``xcore_models`` fixture converts: the script's own, and two more whose
#: operators xcore-opt rewrites differently.
XCORE_MODELS: tuple[str, ...] = (*convert_xcore.MODELS, "rock_paper_scissors", "audio_example1")


@pytest.fixture(scope="session")
def xcore_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """:data:`XCORE_MODELS` converted once per session, by corpus stem. Skips, naming
    xmos-ai-tools, without the converter; fails without the corpus."""
    try:
        convert_xcore.find_converter()
    except convert_xcore.ConvertError as exc:
        pytest.skip(f"the xcore tier needs xmos-ai-tools: {exc}")
    if not corpus_models():
        pytest.fail(_missing_corpus_message(), pytrace=False)
    out = tmp_path_factory.mktemp("xcore")
    manifest = convert_xcore.convert_all(corpus_dir(), out, XCORE_MODELS)
    models = manifest["models"]
    assert isinstance(models, list)
    return {str(m["name"]): out / str(m["file"]) for m in models}


#: The corpus models the ``xcore_exposed`` fixture converts: every int8 one.
XCORE_INT8_MODELS: tuple[str, ...] = tuple(
    p.stem for p in corpus_models() if not p.stem.endswith(".float32"))


Converter = Callable[[Path], Path]


@pytest.fixture(scope="session")
def xcore_converter() -> Converter:
    """``convert(source)``: the model file ``source`` converted by xcore-opt into
    ``source.xcore.tflite`` (returned). Skips, naming xmos-ai-tools, without the converter."""
    try:
        converter, _ = convert_xcore.find_converter()
    except convert_xcore.ConvertError as exc:
        pytest.skip(f"the xcore tier needs xmos-ai-tools: {exc}")

    def convert(source: Path) -> Path:
        target = source.with_suffix(".xcore.tflite")
        convert_xcore.convert(source, target, converter)
        return target
    return convert


class XcoreCorpus:
    """Corpus models converted by xcore-opt on demand, each once per session, in ``out``."""

    def __init__(self, out: Path, convert: Converter) -> None:
        self.out, self._convert = out, convert
        self._done: dict[tuple[str, bool], tuple[Path, Path]] = {}

    def converted(self, name: str) -> Path:
        """Corpus model ``name`` converted as it is."""
        return self._get(name, exposed=False)[1]

    def exposed(self, name: str) -> tuple[Path, Path]:
        """Corpus model ``name`` with every intermediate tensor made an output
        (``expose_intermediates``), and its conversion, which keeps those outputs' names."""
        return self._get(name, exposed=True)

    def _get(self, name: str, *, exposed: bool) -> tuple[Path, Path]:
        from tflitekit.passes import expose_intermediates
        if (name, exposed) not in self._done:
            model = tflitekit.load(corpus_dir() / "models" / f"{name}.tflite")
            source = self.out / f"{name}{'.exposed' if exposed else ''}.tflite"
            (expose_intermediates(model) if exposed else model).save(source)
            self._done[name, exposed] = source, self._convert(source)
        return self._done[name, exposed]


@pytest.fixture(scope="session")
def xcore_corpus(tmp_path_factory: pytest.TempPathFactory, xcore_converter: Converter
                 ) -> XcoreCorpus:
    """Conversions of corpus models by xcore-opt (:class:`XcoreCorpus`). Skips, naming
    xmos-ai-tools, without the converter; fails without the corpus."""
    if not corpus_models():
        pytest.fail(_missing_corpus_message(), pytrace=False)
    return XcoreCorpus(tmp_path_factory.mktemp("xcore-corpus"), xcore_converter)


# ------------------------------------------------------------------------------------------------
# Byte-level tools (tests/_flatbuffer.py)
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def flat() -> type[Flat]:
    """The independent flatbuffer reader class (see :class:`Flat`)."""
    return Flat


@pytest.fixture(scope="session")
def repack() -> Callable[..., bytes]:
    """See :func:`repack_with_flatbuffers` (needs tflite-micro: the test is marked ``tflm``)."""
    return repack_with_flatbuffers
