"""``bench run`` reads and validates its profile once per command and no stage parses the
model blob twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import models.blob
import models.profile.loading
from bench.pipeline.run import execute, prepare

PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "rram_lowpower.yaml"


def test_profile_read_once_and_blob_parsed_at_most_once_per_stage(tmp_path, monkeypatch):
    reads, parses, stage = [], Counter(), {"name": None}
    check = models.profile.loading.check_profile
    from_bytes = models.blob.ModelBlob.from_bytes.__func__

    def counting_check(path):
        reads.append(Path(path))
        return check(path)

    def counting_parse(cls, data):
        parses[stage["name"]] += 1
        return from_bytes(cls, data)

    monkeypatch.setattr(models.profile.loading, "check_profile", counting_check)
    monkeypatch.setattr(models.blob.ModelBlob, "from_bytes", classmethod(counting_parse))
    profile, run_dir, config = prepare(PROFILE, tmp_path / "run", quick=True, epochs=1, test_subset=4,
                                       energy_target=0.1)
    result = execute(profile, run_dir, config, on_start=lambda name: stage.update(name=name))
    assert [r.status for r in result.records] == ["done"] * len(result.records)
    assert reads == [PROFILE]
    assert parses and max(parses.values()) == 1, parses
