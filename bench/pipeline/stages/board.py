"""Stage 5: the network on the board, layer by layer, each layer's weight memory at its
operating point; then each layer's energy, measured apart.

Which energy the operating points trade (``Profile.energy_kind``):

* ``read`` (SRAM undervolting): the weights are loaded at nominal; every layer runs with the
  rail at its voltage (its weights are read from the memory under test);
* ``write`` (RRAM programming): each layer's region is programmed once (``LOAD``) with the rail
  at its operating point; inference then runs at nominal.

Three passes, in this order, so that the board's results depend on nothing but the run's
settings and seeds (not on machine load, capture retries or the instrument):

1. accuracy: per test input ``STEP_INPUT`` and one ``STEP`` per layer, no capture;
2. fault maps: each layer's region read back ``READBACK_REPEATS`` times [choice] at the
   voltage its weights are read at (the maps the compare stage replays);
3. energy, per layer with weights, at its operating point, with the repeated, baseline-corrected
   method of ``drivers/energy`` (docs/ENERGY_CAPTURES.md): ``read``: the layer stepped ``N``
   times on the first test input (``STEP`` repeat, the earlier layers stepped uncaptured
   first); ``write``: the layer's words programmed ``N`` times into a scratch region past the
   model's weights (the model's own cells are never programmed again). A capture retry reruns
   only the energy pass's work, whose outputs are dropped.

The per-layer energy is per inference (read: one read of the layer's weights) or per
programming of the layer (write), with its 95% interval, or "below resolution" with the
instrument's floor; every capture is kept in ``energy_captures.jsonl`` / ``energy_traces.npz``.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from bench.errors import BenchError
from bench.labelled import BOARD_FILE, board_dataset, save_netcdf
from bench.pipeline.hardware import hardware_spec, open_bench, virtual_chip
from bench.pipeline.stages.common import dataset, read_json
from drivers import atomic, stop_signals
from drivers.energy import CaptureLog, CaptureSettings, HostLoop, LayerStep
from drivers.faultmap import FaultMap, write_faultmap
from drivers.memory_layout import REGION_ALIGN_WORDS
from models.blob import ModelBlob
from models.reference import quantize_input

READBACK_REPEATS = 3


def capture_settings(board_config: dict) -> CaptureSettings:
    """The energy method's options from the run config (``board`` section)."""
    return CaptureSettings(target=float(board_config["energy_target"]), window_s=board_config.get("energy_window_s"))


def run_board(ctx) -> dict:
    dep = ctx.input("deploy")
    ops = read_json(ctx.input("operating_points") / "operating_points.json")
    blob = (dep / "model.fbm").read_bytes()
    model = ModelBlob.from_bytes(blob)
    words = np.load(dep / "weights.npy")
    subset = np.load(ctx.input("software_eval") / "board_subset.npy")
    data = dataset(ctx)
    x = quantize_input(np.asarray(data.test_x[subset], dtype=np.float32), model.input_levels).astype(np.int8)
    y = data.test_y[subset].numpy()
    kind = ctx.profile.energy_kind
    bench = open_bench(ctx)
    nominal = bench.nominal_volts
    names = [l["name"] for l in ops["layers"]]
    volts = [l["voltage"] if l["voltage"] is not None else nominal for l in ops["layers"]]
    regions = model.regions()
    steps = model.stored_index()
    scratch = -(-len(words) // REGION_ALIGN_WORDS) * REGION_ALIGN_WORDS   # write energy: past the model
    if kind == "write" and scratch + max(r.n_words for r in regions) > bench.board.info.mem_words:
        raise BenchError(f"board: measuring a layer's programming energy needs {max(r.n_words for r in regions)} "
                         f"scratch words past the model's {len(words)}; the board has {bench.board.info.mem_words}")

    bench.set_volts(nominal)
    bench.ensure_loaded(blob, words)
    if kind == "write":
        for k, r in enumerate(regions):   # programmed once, at its operating point
            bench.set_volts(volts[k])
            bench.board.load(r.base_word, words[r.base_word:r.end_word])
        bench.loaded_blob = None  # the memory now holds the faulty programming, not the clean image
        bench.set_volts(nominal)
        read_volts = [nominal] * len(names)
    else:
        read_volts = volts

    scores = []
    task = ctx.progress.add_task("board inference", total=len(x)) if ctx.progress else None
    for xi in x:
        stop_signals.check()
        bench.start(xi)
        out = None
        for stored in steps:
            bench.set_volts(nominal if stored is None else read_volts[stored])
            out = bench.step()
        scores.append(np.asarray(out, dtype=np.int32).ravel())
        if task is not None:
            ctx.progress.advance(task)
    scores = np.stack(scores)

    layers = []
    for k, (name, region) in enumerate(zip(names, regions)):
        bench.set_volts(read_volts[k])
        reads = [bench.read(region.base_word, region.n_words) for _ in range(READBACK_REPEATS)]
        path = ctx.out / "faultmaps" / f"{k:02d}-{name}.npz"
        fmap = FaultMap.from_reads(words[region.base_word:region.end_word], reads, chip_id=bench.label,
                                   operating_point={"name": name, "voltage_V": float(volts[k])},
                                   pattern="model-weights", base_word=int(region.base_word))
        write_faultmap(path, fmap)
        layers.append({"name": name, "voltage": volts[k], "read_voltage": read_volts[k],
                       "faultmap": str(path.relative_to(ctx.out)), **fmap.ber()})

    log = CaptureLog()
    method = bench.energy_capture(capture_settings(ctx.config["board"]), log)
    energy = []
    task = ctx.progress.add_task("board energy", total=len(names)) if ctx.progress else None
    for k, (name, region) in enumerate(zip(names, regions)):
        bench.set_volts(volts[k])
        if kind == "read":
            work = LayerStep(bench.board, x[0], steps.index(k))
        else:
            work = HostLoop(partial(bench.board.load, scratch, words[region.base_word:region.end_word]))
        est = method.measure(work, volts[k], name, predicted_j=ops["layers"][k]["predicted_energy_J"])
        energy.append(est.to_dict())
        if task is not None:
            ctx.progress.advance(task)
    bench.set_volts(nominal)
    log.save(ctx.out)

    correct = int((scores.argmax(1) == y).sum())
    np.save(ctx.out / "scores.npy", scores)
    np.save(ctx.out / "labels.npy", y)
    result = {"n_inputs": int(len(x)), "correct": correct, "accuracy": correct / len(x), "energy_kind": kind,
              "energy_per": "inference" if kind == "read" else "programming of the layer",
              "energy": energy, "energy_settings": {**vars(method.settings)}, "energy_method": method.meter.method,
              "instrument": method.meter.name, "energy_captures": "energy_captures.jsonl", "layers": layers,
              "board": bench.identity(),
              "virtual_chip": virtual_chip(hardware_spec(ctx.config["hardware"]), ctx.profile)}
    atomic.write_json(ctx.out / "board.json", result)
    save_netcdf(ctx.out / BOARD_FILE, board_dataset(result))
    below = sum(e["below_resolution"] for e in energy)
    return {"accuracy": f"{result['accuracy']:.3f}", "inputs": len(x), "energy": kind,
            "energy_layers": f"{len(energy) - below} measured, {below} below resolution"}
