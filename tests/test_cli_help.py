"""Every command's help renders (argparse formats help strings with %, so a bare % breaks it)."""

import pytest

from bench.cli import COMMAND_MODULES, main


def test_top_level_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["-h"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMAND_MODULES:
        assert name in out


@pytest.mark.parametrize("name", COMMAND_MODULES)
def test_command_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "-h"])
    assert exc.value.code == 0
    assert "usage: bench" in capsys.readouterr().out
