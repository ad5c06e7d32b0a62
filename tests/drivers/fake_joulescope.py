"""A stand-in for the ``joulescope`` package (no Joulescope is attached here), written from its
documentation: ``scan(config=...)`` returns devices; a device has ``open()``, ``close()``,
``parameter_set(name, value)``, ``start()`` / ``stop()`` / ``is_streaming``,
``output_sampling_frequency``, ``model``, ``serial_number``, ``str(device)`` (``JS110-<serial>``)
and a ``stream_buffer`` with ``sample_id_range`` (start inclusive, end exclusive) and
``samples_get(start, stop, fields=[...])`` returning ``{'time': {...}, 'signals': {name:
{'value': array, 'units': ...}}}`` (float32 arrays, NaN for samples lost on USB).

Every call is recorded in ``calls`` (the exchange the tests compare with the expected one).
While streaming, the newest sample id advances with the wall clock at the sampling rate, as a
real stream does; the samples are a recorded waveform: ``current(sample_id)``, ``voltage``."""

from __future__ import annotations

import time

import numpy as np


class FakeStreamBuffer:
    def __init__(self, device):
        self.device = device

    @property
    def sample_id_range(self):
        d = self.device
        if d.t_start is None:
            return 0, 0
        end = int((time.monotonic() - d.t_start) * d.output_sampling_frequency) + d.lag
        return max(0, end - int(30 * d.output_sampling_frequency)), max(end, 0)

    def samples_get(self, start, stop, fields=None):
        self.device.calls.append(("samples_get", start, stop, tuple(fields)))
        ids = np.arange(start, stop)
        current = self.device.current(ids).astype(np.float32)
        voltage = np.full(len(ids), self.device.voltage, dtype=np.float32)
        current[np.isin(ids, self.device.lost)] = np.nan
        values = {"current": (current, "A"), "voltage": (voltage, "V"), "power": (current * voltage, "W")}
        fs = self.device.output_sampling_frequency
        return {"time": {"sample_id_range": {"value": [start, stop], "units": "samples"},
                         "sample_rate": {"value": fs, "units": "Hz"}},
                "signals": {f: {"value": values[f][0], "units": values[f][1]} for f in fields}}


class FakeDevice:
    def __init__(self, serial_number, calls, model="js110", fs=2_000_000, voltage=1.8, current=None, lag=-200):
        self.serial_number, self.model, self.calls = serial_number, model, calls
        self.output_sampling_frequency = fs
        self.voltage = voltage
        self.current = current or (lambda ids: np.full(len(ids), 2e-3))
        self.lost: list[int] = []
        self.lag = lag                 # samples reach the host late: the newest id trails the clock
        self.t_start = None
        self.is_streaming = False
        self.stream_buffer = FakeStreamBuffer(self)

    def __str__(self):
        return f"{self.model.upper()}-{self.serial_number}"

    def open(self, event_callback_fn=None, mode=None, timeout=None):
        self.calls.append(("open",))

    def close(self, timeout=None):
        self.calls.append(("close",))

    def parameter_set(self, name, value):
        self.calls.append(("parameter_set", name, value))

    def start(self, stop_fn=None, duration=None, contiguous_duration=None):
        self.calls.append(("start",))
        self.t_start, self.is_streaming = time.monotonic(), True

    def stop(self):
        self.calls.append(("stop",))
        self.is_streaming = False
        return True


class FakeJoulescopePackage:
    """``import joulescope`` as the driver sees it."""

    def __init__(self, *devices):
        self.calls: list[tuple] = []
        self.devices = list(devices)

    def device(self, serial_number, **kwargs) -> FakeDevice:
        d = FakeDevice(serial_number, self.calls, **kwargs)
        self.devices.append(d)
        return d

    def scan(self, name=None, config=None):
        self.calls.append(("scan", config))
        return list(self.devices)
