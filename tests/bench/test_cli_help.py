"""Every command's help renders (argparse formats help strings with %, so a bare % breaks it)."""

import pytest

from bench.cli import COMMANDS, main


def test_top_level_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["-h"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "-h"])
    assert exc.value.code == 0
    assert "usage: bench" in capsys.readouterr().out


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_no_escaped_percent(name, capsys):
    """A description is printed verbatim, a help string %-formatted: '%%' leaks into one of them."""
    with pytest.raises(SystemExit):
        main([name, "-h"])
    assert "%%" not in capsys.readouterr().out


def test_evaluate_help_says_percent_in_words(capsys):
    for argv in (["-h"], ["evaluate", "-h"]):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        assert "95 percent confidence interval" in " ".join(out.split())
    assert "%" not in out
