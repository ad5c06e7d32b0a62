"""Stage 6: measured against predicted.

* Energy per layer: the board stage's measured energy per inference (or per programming of the
  layer), the mean over its capture pairs with its 95% interval (drivers/energy,
  docs/ENERGY_CAPTURES.md), against the predicted ``N_l b_l E(eps_l)`` of stage 2: the relative
  error per layer with its interval, and the coefficient of determination of the identity
  prediction, ``R^2 = 1 - sum (m - p)^2 / sum (m - mean m)^2``, over the layers the instrument
  resolved (a layer below resolution has no number to compare and is counted apart). R^2's 95%
  interval: the 2.5 and 97.5 percentiles of R^2 over ``R2_DRAWS`` draws of every measured
  energy from a normal with its interval's half-width as 1.96 sigma (seed ``R2_SEED``) [choice].
* Accuracy: the board's accuracy with its Wilson 95% interval against the software
  Monte-Carlo prediction on the same inputs over chips (a fresh chip per repetition; the
  board's chip is one of them); the two intervals overlap or not. The fixed-chip prediction
  (the run's chip seed) is listed beside it.
* Chip: on the virtual lab, the energy comparison is meaningful only when the lab emulates
  the profile's chip (``hardware.virtual_chip``); otherwise R^2 is reported as n/a with the
  reason, not as a number.
* BER per layer: the errors read back from each layer's region (mean over the reads) against
  the expected count ``n0 p01 + n1 p10`` of its operating point (``n0``, ``n1``: zeros and
  ones written), flagged outside the central ``BER_CHECK_LEVEL`` binomial interval
  [choice: 99%, so that three layers give a false flag in about 3% of runs].
* Replay: the weight image as read back at each layer's operating point (bitwise majority
  over the reads [choice]: the persistent faults, without one read's transient flips), run
  through the numpy reference interpreter (bit-exact with the firmware), against the
  board's own scores, input by input.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from bench.errors import user_errors
from bench.pipeline.stages.common import dataset, read_json
from drivers import atomic
from drivers.faultmap import FaultMapError, read_faultmap
from models.blob import ModelBlob
from models.evaluation import Z95, wilson
from models.reference import quantize_input, scores

R2_DRAWS = 2000
R2_SEED = 0
BER_CHECK_LEVEL = 0.99
CHIP_MISMATCH = "n/a (the virtual chip is not the profile's chip)"


def r_squared(measured: np.ndarray, predicted: np.ndarray) -> float:
    """Coefficient of determination of ``predicted`` as a model of ``measured`` (identity line)."""
    m, p = np.asarray(measured, float), np.asarray(predicted, float)
    ss_tot = float(((m - m.mean()) ** 2).sum())
    return 1.0 - float(((m - p) ** 2).sum()) / ss_tot if ss_tot > 0 else float("nan")


def r_squared_interval(mean: np.ndarray, half: np.ndarray, predicted: np.ndarray) -> list[float]:
    """95% interval of R^2 from draws of each measured energy within its interval (module docstring)."""
    rng = np.random.default_rng(R2_SEED)
    draws = rng.normal(mean, half / Z95, size=(R2_DRAWS, len(mean)))
    ss_res = ((draws - predicted) ** 2).sum(axis=1)
    ss_tot = ((draws - draws.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    return np.percentile(1.0 - ss_res / ss_tot, [2.5, 97.5]).tolist()


def energy_comparison(board: dict, ops_layers: list[dict]) -> dict:
    """Measured (stage 5) against predicted energy per layer, R^2 with its interval."""
    layers = []
    for est, l in zip(board["energy"], ops_layers):
        p = float(l["predicted_energy_J"])
        m = est["energy_J"]
        layers.append({"name": l["name"], "operating_point": l["operating_point"], "voltage": l["voltage"],
                       "predicted_J": p, "measured_J": m, "ci_J": est["ci_J"], "floor_J": est["floor_j"],
                       "below_resolution": est["below_resolution"], "target_met": est["target_met"],
                       "pairs": est["pairs"], "repeat": est["repeat"], "overruns": est["overruns"],
                       "relative_error": None if m is None else (m - p) / p,
                       "relative_error_ci": None if m is None else [(c - p) / p for c in est["ci_J"]]})
    done = [l for l in layers if l["measured_J"] is not None]
    m = np.array([l["measured_J"] for l in done])
    p = np.array([l["predicted_J"] for l in done])
    half = np.array([(l["ci_J"][1] - l["ci_J"][0]) / 2 for l in done])
    enough = len(done) >= 2 and float(((m - m.mean()) ** 2).sum()) > 0
    return {
        "layers": layers, "n_measured": len(done), "n_below_resolution": len(layers) - len(done),
        "r2": r_squared(m, p) if enough else None,
        "r2_ci": r_squared_interval(m, half, p) if enough else None,
        "r2_note": None if enough else f"n/a ({len(done)} of {len(layers)} layers above the instrument's resolution)",
        "pearson_r2": float(np.corrcoef(m, p)[0, 1] ** 2) if enough else None,
        "measured_total_J": float(m.sum()) if done else None,
        "predicted_total_J": float(sum(l["predicted_J"] for l in layers)),
        "scale_measured_over_predicted": float(np.median(m / p)) if done else None,
        "energy_method": board["energy_method"], "instrument": board["instrument"],
        "energy_kind": board["energy_kind"], "energy_per": board["energy_per"],
        "target": board["energy_settings"]["target"], "confidence": board["energy_settings"]["confidence"],
    }


def compare(ctx) -> dict:
    ops = read_json(ctx.input("operating_points") / "operating_points.json")
    sw = read_json(ctx.input("software_eval") / "software_eval.json")
    board_dir = ctx.input("board")
    board = read_json(board_dir / "board.json")
    energy_cmp = energy_comparison(board, ops["layers"])
    chip = board.get("virtual_chip")
    energy_cmp["virtual_chip"] = chip
    if chip is not None and not chip["matches_profile"]:
        energy_cmp.update(r2=None, r2_ci=None, r2_note=CHIP_MISMATCH)  # the report says which chip

    lo, hi = wilson(board["correct"], board["n_inputs"])
    def interval(s):
        return {"accuracy": s["mean"], "ci_low": s["mean"] - s["half_width"], "ci_high": s["mean"] + s["half_width"],
                "reps": s["reps"], "chips": s.get("chips", "")}

    acc_cmp = {"board": {"accuracy": board["accuracy"], "ci_low": lo, "ci_high": hi, "n_inputs": board["n_inputs"]},
               "software": interval(sw["main_board_subset"])}   # over chips: the board's chip is one draw
    if "main_board_subset_fixed_chip" in sw:
        acc_cmp["software_fixed_chip"] = interval(sw["main_board_subset_fixed_chip"])
    acc_cmp["overlap"] = bool(lo <= acc_cmp["software"]["ci_high"] and acc_cmp["software"]["ci_low"] <= hi)

    with user_errors(FaultMapError):
        maps = [read_faultmap(board_dir / l["faultmap"]) for l in board["layers"]]
    replay = replay_readback(ctx, board_dir, board, maps)
    ber = [{**{k: l[k] for k in ("name", "voltage", "ber", "ber_0to1", "ber_1to0")}, **ber_check(fmap, op)}
           for l, op, fmap in zip(board["layers"], ops["layers"], maps)]
    out = {"energy": energy_cmp, "accuracy": acc_cmp, "replay": replay, "ber": ber,
           "ber_flagged": [b["name"] for b in ber if not b["within_bounds"]]}
    atomic.write_json(ctx.out / "compare.json", out)
    return {"energy_R2": energy_cmp["r2_note"] if energy_cmp["r2"] is None else
            f"{energy_cmp['r2']:.3f} [{energy_cmp['r2_ci'][0]:.3f}, {energy_cmp['r2_ci'][1]:.3f}]",
            "acc_CI_overlap": acc_cmp["overlap"], "ber_flagged": ",".join(out["ber_flagged"]) or "none",
            "replay_same_scores": f"{replay['same_scores']}/{replay['n_inputs']}"}


def ber_check(fmap, op) -> dict:
    """Errors read back from one layer vs its operating point's rates (module docstring)."""
    n = fmap.n_bits
    ones = int(np.unpackbits(np.ascontiguousarray(fmap.written, dtype="<u4").view(np.uint8)).sum())
    f01, f10 = fmap.flip_counts()
    observed = (f01 + f10) / fmap.n_reads
    expected = (n - ones) * op["p01"] + ones * op["p10"]
    tail = (1 - BER_CHECK_LEVEL) / 2
    lo, hi = (float(binom.ppf(q, n, expected / n)) for q in (tail, 1 - tail))
    return {"point": op["operating_point"], "point_ber": op["eps"], "bits": int(n), "errors": float(observed),
            "expected_errors": float(expected), "bounds": [lo, hi], "within_bounds": bool(lo <= observed <= hi)}


def majority(reads: list[np.ndarray]) -> np.ndarray:
    """Bitwise majority vote over reads of the same words (ties read as 1)."""
    bits = np.stack([np.unpackbits(np.ascontiguousarray(r, dtype="<u4").view(np.uint8), bitorder="little") for r in reads])
    vote = (2 * bits.sum(axis=0) >= len(reads)).astype(np.uint8)
    return np.packbits(vote, bitorder="little").view("<u4").astype(np.uint32)


def replay_readback(ctx, board_dir, board, maps) -> dict:
    """The board's fault maps (majority over the reads) replayed through the reference
    interpreter on the board's inputs, against the board's own scores."""
    dep = ctx.input("deploy")
    blob = ModelBlob.from_bytes((dep / "model.fbm").read_bytes())
    image = np.load(dep / "weights.npy").copy()
    for fmap in maps:
        image[fmap.base_word:fmap.base_word + fmap.n_words] = majority([fmap.read(i) for i in range(fmap.n_reads)])
    subset = np.load(ctx.input("software_eval") / "board_subset.npy")
    x = quantize_input(np.asarray(dataset(ctx).test_x[subset], dtype=np.float32), blob.input_levels).astype(np.int8)
    replayed = scores(blob, image, x)
    np.save(ctx.out / "replay_scores.npy", replayed)
    board_scores = np.load(board_dir / "scores.npy")
    labels = np.load(board_dir / "labels.npy")
    same = (replayed == board_scores).all(axis=1)
    return {"n_inputs": int(len(labels)), "same_scores": int(same.sum()),
            "same_prediction": int((replayed.argmax(1) == board_scores.argmax(1)).sum()),
            "replay_accuracy": float((replayed.argmax(1) == labels).mean()), "board_accuracy": board["accuracy"]}
