"""Stage 5: inference on the board, layer by layer, each layer's weight memory at its
operating point, each layer bracketed by the supply's energy capture; then, per layer, the
weight region read back at its operating point (the fault maps the compare stage replays).

Per test input: ``STEP_INPUT``, then for every layer: set the rail to the layer's voltage,
open an energy window, ``STEP`` (the layer runs, reading its weights from the memory under
test), close the window. Layers without weights (max-pool) run at nominal, unmeasured.
Fault maps [choice]: ``READBACK_REPEATS`` reads per layer region at its voltage (persistent
faults repeat, transient ones do not).
"""

from __future__ import annotations

import numpy as np

from bench.pipeline import atomic, parts
from bench.pipeline.hardware import open_bench
from bench.pipeline.stages.common import read_json

READBACK_REPEATS = 3


def run_board(ctx) -> dict:
    dep = ctx.input("deploy")
    ops = read_json(ctx.input("operating_points") / "operating_points.json")
    blob = (dep / "model.fbm").read_bytes()
    words = np.load(dep / "weights.npy")
    subset = np.load(ctx.input("software_eval") / "board_subset.npy")
    data = parts.load_data(ctx.config["train"], ctx.config.get("data_dir"), ctx.config["seeds"]["train"])
    x = parts.quantize_inputs(data.test_x[subset], blob)
    y = data.test_y[subset].numpy()
    bench = open_bench(ctx)
    bench.set_volts(bench.nominal_volts)
    bench.ensure_loaded(blob, words)
    regions = parts.blob_regions(blob)        # one per stored layer, in network order
    layer_names = [l["name"] for l in ops["layers"]]
    volts = [l["voltage"] if l["voltage"] is not None else bench.nominal_volts for l in ops["layers"]]
    steps = parts.blob_steps(blob)           # per blob layer: index of its stored layer or None

    energy = np.zeros((len(x), len(layer_names)))
    scores = []
    task = ctx.progress.add_task("board inference", total=len(x)) if ctx.progress else None
    for i, xi in enumerate(x):
        bench.start(xi)
        out = None
        for stored in steps:
            if stored is None:
                bench.set_volts(bench.nominal_volts)
                out = bench.step()
                continue
            bench.set_volts(volts[stored])
            with bench.energy() as e:
                out = bench.step()
            energy[i, stored] = e.joules
        scores.append(np.asarray(out, dtype=np.int32).ravel())
        if task is not None:
            ctx.progress.advance(task)
    scores = np.stack(scores)

    maps_dir = ctx.out / "faultmaps"
    layers = []
    for k, (name, region) in enumerate(zip(layer_names, regions)):
        bench.set_volts(volts[k])
        reads = [bench.read(region.base_word, region.n_words) for _ in range(READBACK_REPEATS)]
        path = maps_dir / f"{k:02d}-{name}.npz"
        ber = parts.save_faultmap(path, words[region.base_word:region.end_word], reads, bench, name, volts[k],
                                  region.base_word)
        layers.append({"name": name, "voltage": volts[k], "faultmap": str(path.relative_to(ctx.out)), **ber,
                       "measured_energy_J_mean": float(energy[:, k].mean()),
                       "measured_energy_J_std": float(energy[:, k].std(ddof=1)) if len(x) > 1 else 0.0})
    bench.set_volts(bench.nominal_volts)
    correct = int((scores.argmax(1) == y).sum())
    np.save(ctx.out / "scores.npy", scores)
    np.save(ctx.out / "labels.npy", y)
    np.save(ctx.out / "energy_per_layer.npy", energy)
    result = {"n_inputs": int(len(x)), "correct": correct, "accuracy": correct / len(x),
              "energy_method": bench.energy_method, "layers": layers, "board": bench.identity()}
    atomic.write_json(ctx.out / "board.json", result)
    return {"accuracy": f"{result['accuracy']:.3f}", "inputs": len(x)}
