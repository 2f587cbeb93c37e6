"""Every example script runs and does what it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import tflitekit
from tflitekit.reference import run_litert, run_tflm

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_builds_saves_and_reloads(tmp_path: Path) -> None:
    out = tmp_path / "quickstart.tflite"
    result = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py"), str(out)],
                            capture_output=True, text=True, check=True)
    assert "loaded it back: identical" in result.stdout
    assert "FULLY_CONNECTED" in result.stdout
    model = tflitekit.load(out)
    assert [op.opcode.name for op in model.main.operators] == ["FULLY_CONNECTED"] * 2
    assert model.check() == []
    # The saved model is a real model: both reference runtimes agree on it.
    data = out.read_bytes()
    x = [np.arange(-8, 8, dtype=np.int8).reshape(1, 16)]
    litert, tflm = run_litert(data, x), run_tflm(data, x)
    assert litert[0].shape == (1, 4)
    np.testing.assert_array_equal(litert[0], tflm[0])
