"""The verdict of a ``bench run``, from ``results.json`` alone: did the main method beat its
baseline, did the operating points hold on the board (and why or why not), did the deploy
readback find bit errors, what the fault-map replay's match count means, and how well the
energy was predicted.

Each :class:`Finding` has an answer (``yes``, ``no``, ``partly`` or ``note``), a one-line
``short`` form for the terminal and a ``text`` that explains it for the report. No win is
claimed that the intervals do not support. Whether the main method beats its baseline is the
verdict at iso-accuracy against the uniform-noise front (``software_eval.verdict``, computed
by ``bench.front.verdict``), shown here, not recomputed.

Intervals [choices]:

* software accuracy of one network: the Student-t 95% interval of the Monte-Carlo mean over
  fault draws on the same test inputs (``software_eval``), which covers the draws, not the
  choice of inputs; two networks are told apart only when these intervals are disjoint;
* accuracy on the board's few inputs: the Wilson score 95% interval over the ``n`` inputs
  (never zero-width, stays inside [0, 1]; ``models.evaluation.wilson``), for the board and for the
  software prediction on the same inputs alike;
* one chip against the software prediction over chips: the Student-t 95% prediction interval
  of a single draw, ``mean +- t s sqrt(1 + 1/R)`` over the ``R`` repetitions (a board holds one
  chip, which the interval of the mean over chips need not cover).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.evaluation import wilson
from bench.report.text import layer_labels


@dataclass(frozen=True)
class Finding:
    topic: str
    answer: str      # "yes", "no", "partly" or "note"
    short: str       # one line for the terminal
    text: str        # the explanation in the report

    def markdown(self) -> str:
        return f"> - **{self.topic}: {self.answer}.** {self.text}"


def findings(results: dict) -> list[Finding]:
    return [baseline(results), operating_points(results), deploy(results), replay(results), energy(results)]


#: the kind of ``bench.front.verdict`` -> the finding's answer: a supported saving is a yes, a
#: saving the intervals do not support a partly, no saving a no
ANSWERS = {"win": "yes", "no_baseline": "yes", "undecided": "partly", "loss": "no", "dominated": "no",
           "not_iso_accurate": "no", "incomplete": "note"}


def baseline(results: dict) -> Finding:
    """Did the main method beat its baseline: the verdict at iso-accuracy (``bench.front``)."""
    v = results["software_eval"]["verdict"]
    answer = ANSWERS[v["kind"]]
    if answer == "partly" and not (v["saving_x"] or 0) > 1:
        answer = "no"
    target = f"{v['target_x']:g}x target"
    if v["kind"] == "dominated":
        short = f"dominated by {v['baseline']} ({v['dominated_by']['setting']})"
    elif v["kind"] == "loss":
        lo, hi = v["saving_ci"]
        short = f"{v['baseline']} needs less energy at iso-accuracy (saving {v['saving_x']:.2f}x, {lo:.2f}-{hi:.2f}x)"
    elif v["saving_x"] is not None:
        lo, hi = v["saving_ci"]
        short = (f"{v['saving_x']:.2f}x ({lo:.2f}-{hi:.2f}x) less energy than the best iso-accurate "
                 f"{v['baseline']} point" + ("" if v["supported"] else ", not supported by the intervals"))
    else:
        short = {"not_iso_accurate": "not iso-accurate",
                 "no_baseline": f"the only iso-accurate method ({v['baseline']} never is)"}.get(v["kind"], v["text"])
    text = v["text"] + ("" if v["meets_target"] or not v.get("why") else f" It does not meet the {target}: {v['why']}.")
    return Finding("Main method beats its baseline", answer,
                   f"{v['method']}: {short}; {target} {'met' if v['meets_target'] else 'not met'}", text)


def prediction_interval(entry: dict) -> tuple[float, float] | None:
    """Student-t 95% interval of one more repetition from ``R`` repetitions' mean and the
    interval of that mean (``ci_low``, ``ci_high``; module docstring): the half-width
    ``t s / sqrt(R)`` becomes ``t s sqrt(1 + 1/R)``, i.e. times ``sqrt(R + 1)``. None for fewer
    than two repetitions."""
    reps = entry["reps"]
    if reps < 2:
        return None
    spread = (entry["ci_high"] - entry["ci_low"]) / 2 * math.sqrt(reps + 1)
    return max(0.0, entry["accuracy"] - spread), min(1.0, entry["accuracy"] + spread)


def operating_points(results: dict) -> Finding:
    """Did each layer's read-back error count fit its point, and does the board's accuracy
    match the software prediction; why not, when it does not."""
    cmp_, labels = results["compare"], layer_labels(results)
    flagged = cmp_.get("ber_flagged") or []

    def count(b):
        return (f"{labels.get(b['name'], b['name'])}: {b['errors']:.3g} of {b['bits']} bits wrong per read, "
                f"expected {b['expected_errors']:.3g}, 99% interval [{b['bounds'][0]:.0f}, {b['bounds'][1]:.0f}]")

    if flagged:
        bad = [b for b in cmp_["ber"] if b["name"] in flagged]
        why = "; ".join(count(b) + (" (more errors than the profile predicts)" if b["errors"] > b["bounds"][1]
                                    else " (fewer errors than the profile predicts)") for b in bad)
        ber_text = (f"The memory does not behave as the profile says at the chosen voltages: {why}. Re-characterise "
                    f"this chip (bench characterize, bench calibrate) or choose more reliable points.")
    else:
        ber_text = ("Every layer's read-back errors lie inside the 99% binomial interval of its operating point's "
                    "rates (" + "; ".join(count(b) for b in cmp_["ber"]) + ").")
    acc = cmp_["accuracy"]
    board, sw, fixed = acc["board"], acc["software"], acc.get("software_fixed_chip")
    n = board["n_inputs"]
    b_text = (f"Board accuracy {board['accuracy']:.3f} on its {n} inputs (Wilson 95% [{board['ci_low']:.3f}, "
              f"{board['ci_high']:.3f}]).")
    pi = prediction_interval(sw)
    in_pi = pi is not None and pi[0] <= board["accuracy"] <= pi[1]
    s_text = (f" Software on the same {n} inputs averaged over {sw['reps']} fresh chips: {sw['accuracy']:.3f} "
              f"(Monte-Carlo 95% interval of that mean [{sw['ci_low']:.3f}, {sw['ci_high']:.3f}]"
              + (f"; one chip falls in [{pi[0]:.3f}, {pi[1]:.3f}] with 95% probability" if pi else "") + ").")
    if fixed is not None:
        lo, hi = wilson(round(fixed["accuracy"] * n), n)
        s_text += (f" On the run's own chip ({fixed['chips']}) software gives {fixed['accuracy']:.3f} "
                   f"(Wilson 95% over the {n} inputs [{lo:.3f}, {hi:.3f}]).")
    own_chip = fixed is not None and abs(fixed["accuracy"] - board["accuracy"]) <= 1 / n / 2
    consistent = acc["overlap"] or in_pi
    if acc["overlap"]:
        a_text = " The board's interval and the software interval over chips overlap: the prediction holds."
    elif in_pi:
        a_text = (" The two intervals do not overlap, yet the board's accuracy lies inside the range one chip "
                  "takes: the interval of the mean over chips is narrow because it averages many chips, and the "
                  "board is a single chip.")
    elif own_chip:
        a_text = (" The board's accuracy lies outside the range one chip takes over the profile's chips, but software "
                  "on the run's own chip gives exactly the board's accuracy: the board behaves as its chip's faults "
                  "predict, and this chip is a worse (or better) one than the profile's typical chip.")
    else:
        a_text = (" The board's accuracy lies outside both the interval of the mean over chips and the range of one "
                  "chip: the board's chip is worse (or better) than the profile's chips, or the board computed "
                  "differently; see the replay.")
    answer = "no" if flagged else "yes" if consistent else "partly"
    if flagged:
        short = "NO for " + ", ".join(labels.get(x, x) for x in flagged)
    else:
        short = "BER within each point's interval"
    if not consistent:
        short += (f"; board accuracy {board['accuracy']:.3f} " + ("= software on its own chip, " if own_chip else "")
                  + f"outside the over-chips prediction {sw['accuracy']:.3f}")
    return Finding("Operating points hold on the board", answer, short, ber_text + " " + b_text + s_text + a_text)


def deploy(results: dict) -> Finding:
    d = results["deploy"]
    errors, allowed = d["readback_bit_errors"], d.get("allowed_bit_errors", 0)
    bits = 32 * d["weight_words"]
    where = f"at the nominal {d['nominal_volts']:g} V, {d['weight_words']} words ({bits} bits)"
    if errors == 0:
        return Finding("Deploy readback clean", "yes", f"0 bit errors in {bits} bits",
                       f"The weight image read back {where} matched what was written, bit for bit.")
    return Finding("Deploy readback clean", "no" if errors > allowed else "partly",
                   f"{errors} bit error(s) in {bits} bits (allowed {allowed})",
                   f"The weight image read back {where} had {errors} bit error(s) (the deploy stage allows "
                   f"{allowed}): the memory is not error-free even at its nominal voltage, so the board's faults "
                   f"include these.")


def replay(results: dict) -> Finding:
    rp = results["compare"]["replay"]
    n, same, cls = rp["n_inputs"], rp["same_scores"], rp["same_prediction"]
    short = f"{same} of {n} inputs bit-exact, {cls} of {n} same class"
    base = (f"The fault maps read back from the board, replayed through the reference interpreter, give exactly "
            f"the board's scores on {same} of {n} inputs and the same class on {cls} of {n} (replay accuracy "
            f"{rp['replay_accuracy']:.3f}, board {rp['board_accuracy']:.3f}).")
    if same == n:
        return Finding("Replay matches the board", "yes", short,
                       base + " The recorded faults explain every score the board computed.")
    why = (" The replay applies each cell's majority over the reads (its persistent faults); the board's own "
           "inference also met transient flips, which change from read to read, so on the other inputs a few "
           "scores differ.")
    if cls == n:
        return Finding("Replay matches the board", "partly", short,
                       base + why + " No transient flip changed a prediction.")
    answer = "partly" if cls >= 0.9 * n else "no"
    tail = ("" if answer == "partly" else " More than one input in ten changes class: the maps do not describe "
            "what the board computed with (a memory that changed between reads, or a deploy problem).")
    return Finding("Replay matches the board", answer, short,
                   base + why + f" On {n - cls} input(s) they changed the predicted class." + tail)


def energy(results: dict) -> Finding:
    """How well the predicted per-layer energy matches the measured one (R^2 with its interval
    over the layers the instrument resolved; layers below its resolution are counted apart)."""
    e = results["compare"]["energy"]
    below = e.get("n_below_resolution", 0)
    unresolved = (f"; {below} of {len(e['layers'])} layer(s) below the instrument's resolution" if below else "")
    if e.get("r2") is None:
        return Finding("Energy prediction", "note", f"{e.get('r2_note', 'n/a')}{unresolved}",
                       f"R^2 is not computed: {e.get('r2_note', 'n/a')}{unresolved}.")
    scale = e.get("scale_measured_over_predicted")
    lo, hi = e["r2_ci"]
    good = lo >= 0.9 and scale is not None and 0.5 <= scale <= 2
    r2 = f"R^2 {e['r2']:.3f} [{lo:.3f}, {hi:.3f}]"
    text = (f"Measured against predicted memory energy per layer over the {e['n_measured']} measured layers: "
            f"{r2} (95% interval from the layers' intervals)"
            + (f", measured/predicted {scale:.3f}" if scale is not None else "") + f"{unresolved}.")
    return Finding("Energy prediction", "yes" if good else "partly",
                   r2 + (f", measured/predicted {scale:.3f}" if scale is not None else "") + unresolved, text)
