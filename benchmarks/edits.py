"""Speed of graph edits, diff and Model.copy() as models grow.

Usage::

    python benchmarks/edits.py [--large-mb 300] [--skip-large]

1. ``Subgraph.replace_all_uses`` on a constant read by n ADD operators, n = 1k, 4k and 16k; the
   16k / 1k time ratio is about 16 when the cost is linear in the number of uses (256 when
   quadratic).
2. Inserting 10k operators one by one at the front of a subgraph (``add_operator(before=...)``),
   then removing them one by one.
3. ``tflitekit.diff`` of a 10k-operator model against its copy.
4. ``Model.copy()`` of the synthetic 300 MB / 2,001-tensor model of ``benchmarks/roundtrip.py``
   (built and saved once by its builder, then loaded), against saving that loaded model.

Every time is the best of a few runs (``time.perf_counter``, the cycle collector paused).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import tflitekit
from tflitekit import Model, Operator, Tensor
from tflitekit.options import AddOptions, BuiltinOperator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from roundtrip import build_large_model


def best(fn: Callable[[], object], setup: Callable[[], object] | None = None,
         repeat: int = 3) -> float:
    """Best time in seconds of ``fn`` over ``repeat`` runs; ``setup`` runs untimed before each.
    The cycle collector runs before each run and is paused during it, so that one run does not
    pay for the garbage of the models built before it."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times)


def fan_out(n: int) -> tuple[Model, Tensor]:
    """A constant read by ``n`` ADD operators."""
    model = Model("fan-out")
    graph = model.add_subgraph("main")
    x = graph.add_input(Tensor("x", (1, 8), "float32"))
    c = Tensor.constant("c", np.ones((1, 8), np.float32))
    for i in range(n):
        graph.add_operator(BuiltinOperator.ADD, [x, c], [Tensor(f"y{i}", (1, 8), "float32")],
                           AddOptions())
    return model, c


def chain(n: int) -> Model:
    """x -> ADD -> ADD -> ... (n operators, each adding its own constant)."""
    model = Model("chain")
    graph = model.add_subgraph("main")
    x = graph.add_input(Tensor("x", (1, 8), "float32"))
    for i in range(n):
        c = Tensor.constant(f"c{i}", np.full((1, 8), i, np.float32))
        y = Tensor(f"y{i}", (1, 8), "float32")
        graph.add_operator(BuiltinOperator.ADD, [x, c], [y], AddOptions())
        x = y
    graph.add_output(x)
    return model


def bench_replace_all_uses() -> None:
    print("1. replace_all_uses on a constant read by n ADD operators")
    times = {}
    for n in (1000, 4000, 16000):
        models = [fan_out(n) for _ in range(5)]

        def run(models: list[tuple[Model, Tensor]] = models, n: int = n) -> None:
            model, c = models.pop()
            assert model.main.replace_all_uses(c, Tensor("fresh", (1, 8), "float32")) == n

        times[n] = best(run, repeat=5)
        print(f"   n = {n:>6,}: {times[n] * 1e3:9.2f} ms")
    print(f"   16k / 1k time ratio: {times[16000] / times[1000]:.1f}x (linear ~16x, "
          "quadratic ~256x)")


def bench_insert_remove(n: int = 10000) -> None:
    print(f"2. insert {n:,} operators at the front of a subgraph, then remove them")
    model = chain(100)
    graph = model.main
    x = graph.inputs[0]
    c = Tensor.constant("k", np.ones((1, 8), np.float32))
    ops = [Operator(BuiltinOperator.ADD, [x, c], [Tensor(f"z{i}", (1, 8), "float32")],
                    AddOptions()) for i in range(n)]

    def insert() -> None:
        for op in ops:
            graph.add_operator(op, before=graph.operators[0])

    def remove() -> None:
        for op in ops:
            graph.remove_operator(op)

    inserted = best(insert, repeat=1)
    removed = best(remove, repeat=1)
    assert len(graph.operators) == 100 and c.uses == []
    print(f"   insert: {inserted * 1e3:9.2f} ms   remove: {removed * 1e3:9.2f} ms")


def bench_diff(n: int = 10000) -> None:
    print(f"3. diff of a {n:,}-operator model against its copy")
    model = chain(n)
    copy = model.copy()
    result: list[list[str]] = []
    seconds = best(lambda: result.append(tflitekit.diff(model, copy)))
    assert result[-1] == []
    print(f"   diff: {seconds * 1e3:9.2f} ms")


def bench_copy_large(size_mib: float) -> None:
    print(f"4. Model.copy() of the {size_mib:g} MiB synthetic model of benchmarks/roundtrip.py")
    with tempfile.TemporaryDirectory(prefix="tflitekit-edits-") as tmp:
        path = Path(tmp) / "large.tflite"
        info = build_large_model(path, size_mib, seed=20240601)
        model = tflitekit.load(path)
        copies: list[Model] = []
        copy_s = best(lambda: copies.append(model.copy()))
        out = Path(tmp) / "out.tflite"
        save_s = best(lambda: model.save(out, reencode=True),
                      setup=lambda: out.unlink(missing_ok=True))
        assert copies[-1].to_bytes() == path.read_bytes()
        print(f"   {info.size / (1 << 20):.0f} MiB, {info.tensors:,} tensors, "
              f"{info.operators:,} operators")
        print(f"   copy: {copy_s * 1e3:9.2f} ms   save: {save_s * 1e3:9.2f} ms   "
              f"copy / save: {copy_s / save_s:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large-mb", type=float, default=300.0,
                        help="size of the synthetic model for part 4 in MiB")
    parser.add_argument("--skip-large", action="store_true", help="skip part 4")
    args = parser.parse_args(argv)
    bench_replace_all_uses()
    bench_insert_remove()
    bench_diff()
    if not args.skip_large:
        bench_copy_large(args.large_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
