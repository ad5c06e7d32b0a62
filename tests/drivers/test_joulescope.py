"""The Joulescope driver against a fake of the joulescope package's documented API
(tests/drivers/fake_joulescope.py; no Joulescope is attached here), and against the real
package, when installed, with no device attached."""

import sys

import numpy as np
import pytest

from drivers.meters import open_meter
from drivers.meters.joulescope import TAIL_S, Joulescope, JoulescopeError
from tests.drivers.fake_joulescope import FakeJoulescopePackage


def test_the_exchange_and_the_energy_of_a_window():
    js = FakeJoulescopePackage()
    device = js.device("002345", voltage=1.8, current=lambda ids: 1e-3 + 1e-3 * ((ids // 1000) % 2))
    with Joulescope("2345", package=js) as meter:
        assert meter.identify() == "Jetperch,js110,002345" and meter.sample_rate_hz == 2e6
        with meter.energy(0.05) as e:
            pass
    scan, opened, irange, vrange, start, samples, stop, close = js.calls
    assert (scan, opened, irange, vrange, start) == (("scan", "off"), ("open",), ("parameter_set", "i_range", "auto"),
                                                     ("parameter_set", "v_range", "15V"), ("start",))
    assert (stop, close) == (("stop",), ("close",)) and samples[0] == "samples_get"
    _, first, last, fields = samples
    assert fields == ("current", "voltage") and last - first >= TAIL_S * 2e6
    ids = np.arange(first, last)
    expected = float(np.sum((1e-3 + 1e-3 * ((ids // 1000) % 2)).astype(np.float32) * np.float32(1.8))) / 2e6
    assert e.joules == pytest.approx(expected, rel=1e-6) and e.method == "stream"
    assert e.samples == last - first and e.duration_s == pytest.approx((last - first) / 2e6)
    assert not device.is_streaming


def test_lost_samples_count_at_the_window_mean():
    js = FakeJoulescopePackage()
    device = js.device("1", voltage=2.0)
    with Joulescope(package=js) as meter:
        device.lost = list(range(0, 10**7, 7))    # every 7th sample lost on USB (NaN)
        c = meter.capture(0.01)
    assert np.isnan(c.current_a).any() and c.energy_j() == pytest.approx(2e-3 * 2.0 * len(c.current_a) / 2e6, rel=1e-5)


def test_choosing_a_device_is_one_line():
    with pytest.raises(JoulescopeError, match=r"^no Joulescope found \(attached: none\): connect it over USB"):
        Joulescope(package=FakeJoulescopePackage())
    js = FakeJoulescopePackage()
    js.device("000111")
    js.device("000222", model="js220")
    with pytest.raises(JoulescopeError, match=r"2 Joulescopes attached \(JS110-000111, JS220-000222\): choose one "
                                              r"with joulescope:SERIAL"):
        Joulescope(package=js)
    with pytest.raises(JoulescopeError, match=r"no Joulescope 999 found \(attached: JS110-000111, JS220-000222\)"):
        Joulescope("999", package=js)
    assert Joulescope("222", package=js).name == "JS220-000222"


def test_without_the_package_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "joulescope", None)   # import joulescope raises ImportError
    with pytest.raises(JoulescopeError, match=r"joulescope package is not installed: pip install 'faultbench\[joulescope\]'"):
        open_meter("joulescope")
    with pytest.raises(ValueError, match="give the PPK2's serial port"):
        open_meter("ppk2")


def test_the_real_package_without_a_device():
    pytest.importorskip("joulescope", reason="joulescope not installed (pip install 'faultbench[joulescope]')")
    import joulescope
    if joulescope.scan(config="off"):
        pytest.skip("a Joulescope is attached: this test needs none")
    with pytest.raises(JoulescopeError, match=r"^no Joulescope found \(attached: none\)"):
        open_meter("joulescope")
