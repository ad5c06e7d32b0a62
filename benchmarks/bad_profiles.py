"""How fast each malformed profile of the test corpus (``tests/profile_corpus.py``) is refused.

Target: every one in well under a second (bound: 2 s), through the same entry point
as ``bench profile check`` and ``bench run --profile`` (``models.profile.check_profile``). Each
case is timed ``--repeats`` times, interleaved with the others; the script prints the median
and the spread per kind of defect, and the slowest cases.

    python benchmarks/bad_profiles.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.profile import check_profile  # noqa: E402
from models.profile.loading import MAX_PROFILE_BYTES  # noqa: E402
from tests.profile_corpus import CASES, section  # noqa: E402


def largest_valid(folder: Path) -> Path:
    """A valid profile just under the size cap: as many (monotone) points as fit."""
    def text(n: int) -> str:
        points = "".join(f"  - {{name: p{i}, voltage: {1.0 - i * 0.4 / n:.6f} V, ber_0to1: {1e-6 * (1 + i):.3e}, "
                         f"ber_1to0: {1e-6 * (1 + i):.3e}, persistent_fraction: 1.0, "
                         f"energy_read_per_bit: {20 - i * 10 / n:.6f} fJ}}\n" for i in range(n))
        return section("operating_points", "operating_points:\n" + points)
    n = 10
    while len(text(2 * n).encode()) < MAX_PROFILE_BYTES:
        n *= 2
    while len(text(n + 50).encode()) < MAX_PROFILE_BYTES:
        n += 50
    path = folder / "largest_valid.yaml"
    path.write_text(text(n))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    times: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for case in CASES:
            folder = Path(tmp) / case.name
            folder.mkdir()
            paths[case.name] = case.make(folder)
        for _ in range(args.repeats):   # interleaved: each round times every case once
            for case in CASES:
                t0 = time.perf_counter()
                _, problems = check_profile(paths[case.name])
                times[case.name].append(time.perf_counter() - t0)
                assert len(problems) == 1, (case.name, problems)
    by_kind = defaultdict(list)
    for case in CASES:
        by_kind[case.kind].append(statistics.median(times[case.name]))
    print(f"{len(CASES)} malformed profiles, {args.repeats} repeats each; seconds per check")
    print(f"{'kind':<10} {'cases':>5} {'median':>9} {'max':>9}")
    for kind, medians in by_kind.items():
        print(f"{kind:<10} {len(medians):>5} {statistics.median(medians):>9.4f} {max(medians):>9.4f}")
    with tempfile.TemporaryDirectory() as tmp:
        big = largest_valid(Path(tmp))
        runs = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            _, problems = check_profile(big)
            runs.append(time.perf_counter() - t0)
        print(f"largest valid profile ({big.stat().st_size} bytes, {len(problems)} problems): median "
              f"{statistics.median(runs):.3f} s, max {max(runs):.3f} s")
    slowest = sorted(CASES, key=lambda c: -max(times[c.name]))[:5]
    print("slowest (max over repeats):", ", ".join(f"{c.name} {max(times[c.name]):.4f}" for c in slowest))
    worst = max(max(t) for t in times.values())
    print(f"worst single check {worst:.4f} s: {'within' if worst < 2.0 else 'ABOVE'} the 2 s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
