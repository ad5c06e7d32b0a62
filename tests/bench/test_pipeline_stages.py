"""The stage framework on its own: skip, force, config hashing, atomicity, interruption."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.errors import BenchError
from drivers import atomic
from bench.pipeline.framework import Pipeline, Resources, Stage


def make_pipeline(calls: list[str], fail: dict | None = None) -> Pipeline:
    """a -> b -> c, plus d reading only config key "d"; each stage records that it ran."""
    fail = fail if fail is not None else {}

    def stage(name, body):
        def run(ctx):
            calls.append(name)
            if name in fail:
                (ctx.out / "half.txt").write_text("half-written")
                raise fail[name]
            return body(ctx)
        return run

    def a(ctx):
        (ctx.out / "a.txt").write_text(str(ctx.config["a"]))
        return {"value": ctx.config["a"]}

    def b(ctx):
        x = int((ctx.input("a") / "a.txt").read_text())
        (ctx.out / "b.txt").write_text(str(2 * x))
        return {"value": 2 * x}

    def c(ctx):
        y = int((ctx.input("b") / "b.txt").read_text())
        (ctx.out / "c.txt").write_text(str(y + 1))

    def d(ctx):
        (ctx.out / "d.txt").write_text(str(ctx.config["d"]))

    return Pipeline([
        Stage("a", "A", stage("a", a), config_keys=("a",)),
        Stage("b", "B", stage("b", b), depends=("a",), config_keys=("b",)),
        Stage("c", "C", stage("c", c), depends=("b",)),
        Stage("d", "D", stage("d", d), config_keys=("d",)),
    ])


CFG = {"a": 1, "b": "x", "d": 5}


def test_second_run_skips_everything(tmp_path):
    calls = []
    p = make_pipeline(calls)
    recs = p.run(tmp_path, CFG)
    assert [r.status for r in recs] == ["done"] * 4
    assert (tmp_path / "c" / "c.txt").read_text() == "3"
    assert p.plan(tmp_path, CFG) == dict.fromkeys("abcd", "reuse")
    calls.clear()
    recs = p.run(tmp_path, CFG)
    assert calls == []
    assert [r.status for r in recs] == ["skipped"] * 4
    assert recs[1].summary == {"value": 2}


def test_force_redoes_stage_and_dependents_only(tmp_path):
    calls = []
    p = make_pipeline(calls)
    p.run(tmp_path, CFG)
    calls.clear()
    assert p.plan(tmp_path, CFG, force=["b"]) == {"a": "reuse", "b": "run", "c": "run", "d": "reuse"}
    p.run(tmp_path, CFG, force=["b"])
    assert calls == ["b", "c"]


def test_unknown_force_names_the_option(tmp_path):
    with pytest.raises(BenchError, match=r"--force nope.*stages are a, b, c, d"):
        make_pipeline([]).run(tmp_path, CFG, force=["nope"])


def test_config_change_redoes_readers_and_downstream(tmp_path):
    calls = []
    p = make_pipeline(calls)
    p.run(tmp_path, CFG)
    calls.clear()
    p.run(tmp_path, {**CFG, "a": 4})
    assert calls == ["a", "b", "c"]
    assert (tmp_path / "c" / "c.txt").read_text() == "9"
    calls.clear()
    p.run(tmp_path, {**CFG, "a": 4, "d": 6})
    assert calls == ["d"]


def test_unchanged_output_keeps_downstream_cached(tmp_path):
    """b reads config "b" but its output does not change, so c is reused."""
    calls = []
    p = make_pipeline(calls)
    p.run(tmp_path, CFG)
    calls.clear()
    p.run(tmp_path, {**CFG, "b": "y"})
    assert calls == ["b"]


@pytest.mark.parametrize("exc", [RuntimeError("board lost"), KeyboardInterrupt()])
def test_failure_keeps_finished_stages_and_old_outputs(tmp_path, exc):
    calls = []
    make_pipeline(calls).run(tmp_path, CFG)
    before = (tmp_path / "stages" / "b.json").read_text()
    calls.clear()
    closed = []
    res = Resources()
    res.get("supply", lambda stack: stack.callback(closed.append, "supply off"))
    with pytest.raises(type(exc)):
        try:
            make_pipeline(calls, fail={"c": exc}).run(tmp_path, {**CFG, "a": 2}, resources=res)
        finally:
            res.close()
    assert closed == ["supply off"]
    assert calls == ["a", "b", "c"]
    # the failed stage's half-written output never replaced the committed one
    assert (tmp_path / "c" / "c.txt").read_text() == "3"
    assert (tmp_path / "c.partial" / "half.txt").exists()
    assert (tmp_path / "stages" / "b.json").read_text() != before
    # resuming reruns only the failed stage and discards the partial directory
    calls.clear()
    make_pipeline(calls).run(tmp_path, {**CFG, "a": 2})
    assert calls == ["c"]
    assert (tmp_path / "c" / "c.txt").read_text() == "5"
    assert not (tmp_path / "c.partial").exists()


def test_pipeline_closes_its_own_resources_on_interrupt(tmp_path):
    closed = []

    def opener(stack):
        stack.callback(closed.append, "off")
        return "supply"

    def boom(ctx):
        assert ctx.resources.get("supply", opener) == "supply"
        raise KeyboardInterrupt

    p = Pipeline([Stage("x", "X", boom)])
    with pytest.raises(KeyboardInterrupt):
        p.run(tmp_path, {})
    assert closed == ["off"]


def test_resource_is_closed_after_the_last_stage_that_uses_it(tmp_path):
    """The supply is off while later software stages run, also when the user of it was reused."""
    events = []

    def opener(stack):
        events.append("open")
        stack.callback(events.append, "close")
        return "supply"

    def uses(name):
        def run(ctx):
            events.append(name)
            ctx.resources.get("supply", opener)
        return run

    def software(ctx):
        events.append("software")

    p = Pipeline([Stage("deploy", "D", uses("deploy"), uses=("supply",)),
                  Stage("board", "B", uses("board"), depends=("deploy",), uses=("supply",)),
                  Stage("compare", "C", software, depends=("board",))])
    p.run(tmp_path, {})
    assert events == ["deploy", "open", "board", "close", "software"]
    events.clear()
    p.run(tmp_path, {}, force=["board"])
    assert events == ["board", "open", "close", "software"]


def test_interrupt_from_hook_at_every_boundary_then_resume(tmp_path):
    """Kill after each stage in turn; every resume finishes with the same outputs."""
    calls = []
    reference = tmp_path / "ref"
    make_pipeline(calls).run(reference, CFG)
    for boundary in "abcd":
        run_dir = tmp_path / boundary

        def kill(name, boundary=boundary):
            if name == boundary:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            make_pipeline(calls).run(run_dir, CFG, on_done=kill)
        calls.clear()
        make_pipeline(calls).run(run_dir, CFG)
        assert calls == list("abcd"["abcd".index(boundary) + 1:])
        for s in "abcd":
            ref_files = sorted(p.name for p in (reference / s).iterdir())
            assert ref_files == sorted(p.name for p in (run_dir / s).iterdir())
            for f in ref_files:
                assert (run_dir / s / f).read_bytes() == (reference / s / f).read_bytes()


def test_damaged_marker_reruns_stage(tmp_path):
    calls = []
    p = make_pipeline(calls)
    p.run(tmp_path, CFG)
    (tmp_path / "stages" / "a.json").write_text("{not json")
    calls.clear()
    p.run(tmp_path, CFG)
    assert calls == ["a"]  # same output as before, so b, c stay cached
    assert json.loads((tmp_path / "stages" / "a.json").read_text())["stage"] == "a"


def test_missing_output_dir_reruns_stage(tmp_path):
    calls = []
    p = make_pipeline(calls)
    p.run(tmp_path, CFG)
    shutil.rmtree(tmp_path / "d")
    calls.clear()
    p.run(tmp_path, CFG)
    assert calls == ["d"]


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    atomic.write_json(target, {"v": 1})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", broken_replace)
    with pytest.raises(OSError):
        atomic.write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_dependency_must_come_first():
    with pytest.raises(ValueError, match="depends on"):
        Pipeline([Stage("b", "B", lambda ctx: None, depends=("a",)), Stage("a", "A", lambda ctx: None)])


def test_bench_run_errors_name_the_option(tmp_path, capsys):
    from bench.cli import main

    assert main(["run", "--profile", str(tmp_path / "missing.yaml")]) == 2
    assert "--profile" in capsys.readouterr().err
    assert main(["run", "--profile", str(Path(__file__).parents[2] / "profiles" / "sram_lowvoltage.yaml"), "--out", str(tmp_path / "r"),
                 "--force", "nope"]) == 2
    assert "--force nope" in capsys.readouterr().err


def test_bench_report_needs_results(tmp_path, capsys):
    from bench.cli import main

    assert main(["report", str(tmp_path)]) == 2
    assert "results.json" in capsys.readouterr().err


def test_resume_partial_continues_an_interrupted_attempt(tmp_path):
    """A ``resume_partial`` stage finds its interrupted attempt's files (same inputs only)."""
    seen = []

    def work(ctx):
        step = ctx.out / "step.txt"
        n = int(step.read_text()) if step.exists() else 0
        seen.append(n)
        step.write_text(str(n + 1))
        if n == 0:
            raise KeyboardInterrupt   # interrupted after writing its first piece of work

    p = Pipeline([Stage("t", "T", work, config_keys=("a",), resume_partial=True)])
    with pytest.raises(KeyboardInterrupt):
        p.run(tmp_path, {"a": 1})
    p.run(tmp_path, {"a": 1})
    assert seen == [0, 1] and (tmp_path / "t" / "step.txt").read_text() == "2"
    # changed inputs: an interrupted attempt is not reused
    seen.clear()
    with pytest.raises(KeyboardInterrupt):
        p.run(tmp_path / "other", {"a": 1})
    with pytest.raises(KeyboardInterrupt):
        p.run(tmp_path / "other", {"a": 2})   # starts over: interrupted at its first step again
    assert seen == [0, 0]


@pytest.mark.parametrize("option, named", [
    (["--method", "foo"], "--method foo"), (["--arch", "nope"], "--arch nope"),
    (["--dataset", "nope"], "--dataset nope"), (["--width", "32"], "--width 32"),
    (["--hardware", "missing.yaml"], "--hardware missing.yaml"), (["--epochs", "0"], "--epochs 0"),
    (["--energy-target", "2"], "--energy-target 2"),
])
def test_bench_run_checks_options_before_training(tmp_path, capsys, option, named):
    from bench.cli import main

    profile = Path(__file__).parents[2] / "profiles" / "virtual_chip.yaml"
    assert main(["run", "--profile", str(profile), "--out", str(tmp_path / "r"), *option]) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "r").exists()   # nothing started


def test_bench_run_names_an_unknown_virtual_supply_model(tmp_path, capsys):
    from bench.cli import main

    hw = tmp_path / "hw.yaml"
    hw.write_text("kind: virtual\nsupply: nope\nphysics: realistic\n")
    profile = Path(__file__).parents[2] / "profiles" / "virtual_chip.yaml"
    assert main(["run", "--profile", str(profile), "--out", str(tmp_path / "r"), "--hardware", str(hw)]) == 2
    err = capsys.readouterr().err
    assert "supply: supply model" in err and "nope" in err and "n6705c_n6781a" in err
    assert not (tmp_path / "r").exists()
