"""The verdict of a ``bench run``, from ``results.json`` alone: did the main method beat its
baseline, did the operating points hold on the board (and why or why not), did the deploy
readback find bit errors, what the fault-map replay's match count means, and how well the
energy was predicted.

Each :class:`Finding` has an answer (``yes``, ``no``, ``partly`` or ``note``), a one-line
``short`` form for the terminal and a ``text`` that explains it for the report. No win is
claimed that the intervals do not support. When the baselines stage wrote its own verdict
(``results["verdict"]``: a string, or a dict whose ``text`` or ``summary`` is shown, with
``answer``/``status`` or a boolean ``beats_baseline``), that verdict is shown instead of the
one derived here from the single uniform-noise point.

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

#: energies within this relative difference count as equal in the derived verdict [choice]
ENERGY_TIE = 0.01


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


def _interval(entry: dict) -> tuple[float, float]:
    return entry["mean"] - entry["half_width"], entry["mean"] + entry["half_width"]


def _acc(entry: dict) -> str:
    return f"{entry['mean']:.3f} +- {entry['half_width']:.3f}"


def baseline(results: dict) -> Finding:
    """Did the main method beat its baseline (``results["verdict"]`` when present)."""
    given = results.get("verdict")
    if given:
        return _given_verdict(given, results["train"]["method"])
    sw, method = results["software_eval"], results["train"]["method"]
    main, uni, rel = sw["main"], sw["uniform"], sw["reliable"]
    (m_lo, m_hi), (u_lo, u_hi) = _interval(main), _interval(uni)
    acc = "higher" if m_lo > u_hi else "lower" if m_hi < u_lo else "indistinguishable"
    ratio = main["energy_J"] / uni["energy_J"] if uni["energy_J"] else math.nan
    cheaper = ratio < 1 - ENERGY_TIE
    dearer = not ratio <= 1 + ENERGY_TIE
    where = (f"Software accuracy on all {sw.get('n_test', '?')} test inputs (mean +- 95% Monte-Carlo interval over "
             f"fault draws) and predicted memory energy: {method} {_acc(main)} at {ratio:.3g}x the energy of uniform "
             f"noise (eps {results['uniform_eps']:.3g}) {_acc(uni)}; reliable (fault-free) {rel['mean']:.3f}"
             + (f", {method} at {main['energy_J'] / rel['energy_J']:.3g}x its energy" if rel.get("energy_J") else "")
             + ".")
    point = " This run has one uniform-noise point, not an iso-accuracy front."
    if acc == "higher" and not dearer:
        return Finding("Main method beats its baseline", "yes", f"{method} beats uniform noise: higher accuracy at "
                       f"{ratio:.3g}x the energy", f"{method} is more accurate than uniform noise (the intervals are "
                       f"disjoint) for no more energy. {where}{point}")
    if acc == "indistinguishable" and cheaper:
        return Finding("Main method beats its baseline", "partly", f"{method}: {ratio:.3g}x uniform noise's energy, "
                       f"accuracy not distinguishable", f"{method} needs less memory energy than uniform noise, but the "
                       f"accuracy intervals overlap, so this run cannot tell whether it is as accurate: no win is "
                       f"claimed. {where}{point}")
    if (acc == "lower" and cheaper) or (acc == "higher" and dearer):
        trade = "less accurate and cheaper" if acc == "lower" else "more accurate and dearer"
        return Finding("Main method beats its baseline", "no", f"{method} vs uniform noise: a trade-off ({trade}), "
                       f"no win", f"{method} is {trade} than uniform noise: a different trade-off, not a win. "
                       f"{where}{point}")
    return Finding("Main method beats its baseline", "no", f"{method} does not beat uniform noise "
                   f"(accuracy {acc}, {ratio:.3g}x the energy)", f"{method} does not beat uniform noise here: its "
                   f"accuracy is {acc} and it needs {ratio:.3g}x the energy. {where}{point}")


def _given_verdict(verdict, method: str) -> Finding:
    if isinstance(verdict, str):
        return Finding("Main method beats its baseline", "note", verdict.splitlines()[0], verdict)
    text = verdict.get("text") or verdict.get("summary")
    if not text:
        text = "; ".join(f"{k}: {v}" for k, v in verdict.items() if isinstance(v, (str, int, float, bool)))
    answer = verdict.get("answer") or verdict.get("status")
    if answer not in ("yes", "no", "partly", "note"):
        beats = verdict.get("beats_baseline")
        answer = "note" if beats is None else "yes" if beats else "no"
    return Finding("Main method beats its baseline", answer, str(text).splitlines()[0], str(text))


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
    e = results["compare"]["energy"]
    if e.get("r2") is None:
        return Finding("Energy prediction", "note", e.get("r2_note", "n/a"),
                       f"R^2 is not computed: {e.get('r2_note', 'n/a')}.")
    scale = e.get("scale_measured_over_predicted")
    good = e["r2"] >= 0.9 and scale is not None and 0.5 <= scale <= 2
    text = (f"Measured against predicted memory energy per layer: R^2 = {e['r2']:.3f}"
            + (f", measured/predicted {scale:.3f}" if scale is not None else "") + ".")
    return Finding("Energy prediction", "yes" if good else "partly", f"R^2 {e['r2']:.3f}"
                   + (f", measured/predicted {scale:.3f}" if scale is not None else ""), text)
