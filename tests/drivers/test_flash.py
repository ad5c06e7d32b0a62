"""drivers.flash: probe choice, SWD clock parsing, and the real pyOCD with no probe attached
(no debug probe is attached here, so programming a chip itself is never run)."""

import pytest

from drivers.flash import FlashError, Probe, attached_probes, choose_probe, flash, parse_frequency

STLINKS = [Probe("066DFF505057717867173533", "STM32 STLink"), Probe("0671FF535155878281151932", "STM32 STLink"),
           Probe("000440112138", "Segger J-Link")]


@pytest.mark.parametrize("text, hz", [("4M", 4_000_000), ("1.8m", 1_800_000), ("400k", 400_000),
                                      ("400kHz", 400_000), ("1000000", 1_000_000), (" 2 M ", 2_000_000)])
def test_frequency_takes_pyocd_suffixes(text, hz):
    assert parse_frequency(text) == hz


@pytest.mark.parametrize("text", ["", "fast", "4X", "0", "-1M", "4 GHz"])
def test_bad_frequency_is_one_line_naming_the_option(text):
    with pytest.raises(FlashError, match=r"^--frequency .*: expected a positive clock") as e:
        parse_frequency(text)
    assert "\n" not in str(e.value)


def test_the_only_probe_is_chosen_and_several_need_probe_id():
    assert choose_probe(STLINKS[:1], None) is STLINKS[0]
    with pytest.raises(FlashError) as e:
        choose_probe(STLINKS, None)
    msg = str(e.value)
    assert msg.startswith("3 debug probes attached: ") and msg.endswith("choose one with --probe ID")
    assert all(p.unique_id in msg for p in STLINKS) and "\n" not in msg


def test_probe_id_matches_a_unique_part_case_insensitively():
    assert choose_probe(STLINKS, "0671ff") is STLINKS[1]
    assert choose_probe(STLINKS, "000440112138") is STLINKS[2]
    with pytest.raises(FlashError, match=r"--probe ff5 matches 2 probes: .*give more of the unique ID"):
        choose_probe(STLINKS, "ff5")
    with pytest.raises(FlashError, match=r"no attached debug probe matches --probe ABC; attached: 066DFF"):
        choose_probe(STLINKS, "ABC")


def test_no_probe_is_one_line_saying_what_to_connect():
    with pytest.raises(FlashError, match=r"^no debug probe attached: connect the board's ST-LINK USB port") as e:
        choose_probe([], None)
    assert "\n" not in str(e.value)
    with pytest.raises(FlashError, match=r"no attached debug probe matches --probe 066D; attached: none"):
        choose_probe([], "066D")


def test_real_pyocd_without_a_probe_fails_before_building():
    pytest.importorskip("pyocd", reason="pyOCD not installed (pip install 'faultbench[flash]')")
    if attached_probes():
        pytest.skip("a debug probe is attached: this test must not flash it")
    with pytest.raises(FlashError, match="^no debug probe attached"):
        flash("nucleo-f411", elf="/nonexistent/fw.elf")  # never reaches the ELF


def test_unknown_target_names_the_flashable_ones():
    with pytest.raises(FlashError, match="no flash support for firmware target 'mps2-an386'; flashable: nucleo-f411"):
        flash("mps2-an386")
