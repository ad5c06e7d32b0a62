"""Stage 5: the network on the board, layer by layer, each layer's weight memory at its
operating point, with the supply's energy capture around each layer.

Which energy the operating points trade (``Profile.energy_kind``):

* ``read`` (SRAM undervolting): per test input ``STEP_INPUT``, then for every layer set the
  rail to the layer's voltage, open an energy window, ``STEP`` (the layer reads its weights
  from the memory under test), close the window. Layers without weights (max-pool) run at
  nominal, unmeasured.
* ``write`` (RRAM programming): each layer's region is programmed (``LOAD``) with the rail at
  its operating point inside an energy window; inference then runs layer by layer at nominal.

The per-layer energy is per inference (read, captured on the first ``energy_inputs`` inputs:
every capture costs a supply round trip of ~0.1 s) or per programming of the layer (write).
When a fixed-length capture is outlasted, the window doubles and the input is run again.
Afterwards each layer's region is read back ``READBACK_REPEATS`` times [choice] at the
voltage its weights are read at: the fault maps the compare stage replays.
"""

from __future__ import annotations

import numpy as np

from bench.labelled import BOARD_FILE, board_dataset, save_netcdf
from bench.pipeline.hardware import hardware_spec, open_bench, virtual_chip
from bench.pipeline.stages.common import dataset, read_json
from drivers import atomic
from drivers.faultmap import FaultMap, write_faultmap
from drivers.supplies.base import EnergyWindowError
from models.blob import ModelBlob
from models.reference import quantize_input

READBACK_REPEATS = 3
MAX_ATTEMPTS = 4


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

    def attempt(work):
        for _ in range(MAX_ATTEMPTS):
            try:
                return work()
            except EnergyWindowError:
                continue
        return work()

    bench.set_volts(nominal)
    if kind == "write":
        program = np.zeros(len(names))
        bench.ensure_loaded(blob, words)
        for k, r in enumerate(regions):
            def write(k=k, r=r):
                bench.set_volts(volts[k])
                with bench.energy() as e:
                    bench.board.load(r.base_word, words[r.base_word:r.end_word])
                return e.joules
            program[k] = attempt(write)
        bench.loaded_blob = None  # the memory now holds the faulty programming, not the clean image
        bench.set_volts(nominal)
        read_volts = [nominal] * len(names)
    else:
        bench.ensure_loaded(blob, words)
        read_volts = volts

    n_energy = min(ctx.config["board"]["energy_inputs"], len(x))
    energy = np.zeros((n_energy, len(names)))
    scores = []
    task = ctx.progress.add_task("board inference", total=len(x)) if ctx.progress else None
    for i, xi in enumerate(x):
        def infer(xi=xi, measure=i < n_energy):
            row = np.zeros(len(names))
            bench.start(xi)
            out = None
            for stored in steps:
                bench.set_volts(nominal if stored is None else read_volts[stored])
                if stored is None or not measure:
                    out = bench.step()
                    continue
                with bench.energy() as e:
                    out = bench.step()
                row[stored] = e.joules
            return row, out
        row, out = attempt(infer)
        if i < n_energy:
            energy[i] = row
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
        ber = fmap.ber()
        layers.append({"name": name, "voltage": volts[k], "read_voltage": read_volts[k],
                       "faultmap": str(path.relative_to(ctx.out)), **ber})
    bench.set_volts(nominal)
    measured = program if kind == "write" else energy.mean(axis=0)
    correct = int((scores.argmax(1) == y).sum())
    np.save(ctx.out / "scores.npy", scores)
    np.save(ctx.out / "labels.npy", y)
    np.save(ctx.out / "energy_per_layer.npy", program[None, :] if kind == "write" else energy)
    np.save(ctx.out / "read_energy_per_layer.npy", energy)
    result = {"n_inputs": int(len(x)), "correct": correct, "accuracy": correct / len(x), "energy_kind": kind,
              "energy_method": bench.energy_method, "energy_window_s": bench.window_s, "layers": layers,
              "measured_energy_J": measured.tolist(), "board": bench.identity(),
              "virtual_chip": virtual_chip(hardware_spec(ctx.config["hardware"]), ctx.profile)}
    atomic.write_json(ctx.out / "board.json", result)
    save_netcdf(ctx.out / BOARD_FILE, board_dataset(result, program[None, :] if kind == "write" else energy))
    return {"accuracy": f"{result['accuracy']:.3f}", "inputs": len(x), "energy": kind}
