"""The Joulescope driver against a fake of the joulescope package's documented API
(tests/drivers/fake_joulescope.py; no Joulescope is attached here), and against the real
package, when installed, with no device attached; its energy-capture interface
(drivers/energy/meter.py) as the repeated method uses it."""

import sys

import numpy as np
import pytest

from drivers.energy import CaptureOverrun
from drivers.meters import open_meter
from drivers.meters.joulescope import GAIN_ACCURACY, NOISE_FRACTION, TAIL_S, VOLTAGE_ACCURACY, Joulescope, JoulescopeError
from tests.drivers.fake_joulescope import FakeJoulescopePackage


def test_the_exchange_and_the_energy_of_a_window():
    js = FakeJoulescopePackage()
    device = js.device("002345", voltage=1.8, current=lambda ids: 1e-3 + 1e-3 * ((ids // 1000) % 2))
    with Joulescope("2345", package=js) as meter:
        assert meter.identify() == "Jetperch,js110,002345" and meter.sample_rate_hz == 2e6
        with meter.capture(0.05) as box:
            pass
    scan, opened, irange, vrange, start, samples, stop, close = js.calls
    assert (scan, opened, irange, vrange, start) == (("scan", "off"), ("open",), ("parameter_set", "i_range", "auto"),
                                                     ("parameter_set", "v_range", "15V"), ("start",))
    assert (stop, close) == (("stop",), ("close",)) and samples[0] == "samples_get"
    _, first, last, fields = samples
    assert fields == ("current", "voltage") and last - first >= (0.05 + TAIL_S) * 2e6   # held open for the window
    ids = np.arange(first, last)
    expected = float(np.sum((1e-3 + 1e-3 * ((ids // 1000) % 2)).astype(np.float32) * np.float32(1.8))) / 2e6
    e = box.capture
    assert e.energy_j == pytest.approx(expected, rel=1e-6) and meter.method == "stream" and not e.fixed_length
    assert len(e.currents) == last - first and e.duration_s == pytest.approx((last - first) / 2e6)
    assert e.interval_s == 1 / 2e6 and e.volts == pytest.approx(1.8) and len(e.voltages) == len(e.currents)
    assert not device.is_streaming


def test_what_a_window_resolves():
    js = FakeJoulescopePackage()
    js.device("1", fs=1_000_000)
    with Joulescope(package=js) as meter:
        low, high = meter.window_noise(0.1, 0.6, 5e-6), meter.window_noise(0.1, 0.6, 0.5)
        assert meter.gain_accuracy(0.6) == GAIN_ACCURACY + VOLTAGE_ACCURACY and meter.max_window_s >= 1
    # 18 uA range: 1e5 samples of NOISE_FRACTION x 18 uA, averaged 2 MSa/s -> 1 MSa/s
    sigma = NOISE_FRACTION * 18e-6 * np.sqrt(0.5) * np.sqrt(1e5) * 0.6 / 1e6
    assert low.sigma_j == pytest.approx(sigma) and low.resolution_j == 0
    assert high.sigma_j == pytest.approx(sigma * 2.0 / 18e-6)   # the 2 A range


def test_lost_samples_count_at_the_mean_in_raw_samples_and_void_a_capture():
    js = FakeJoulescopePackage()
    device = js.device("1", voltage=2.0)
    with Joulescope(package=js) as meter:
        device.lost = list(range(0, 10**7, 7))    # every 7th sample lost on USB (NaN)
        c = meter.record(0.01)
        with pytest.raises(CaptureOverrun, match="lost in the window"):   # a window with a lost sample: again
            with meter.capture(0.01):
                pass
        device.lost = []
        with meter.capture(0.01) as box:
            pass
    assert np.isnan(c.current_a).any() and c.energy_j() == pytest.approx(2e-3 * 2.0 * len(c.current_a) / 2e6, rel=1e-5)
    n = len(box.capture.currents)
    assert box.capture.energy_j == pytest.approx(2e-3 * 2.0 * n / 2e6, rel=1e-5)


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
