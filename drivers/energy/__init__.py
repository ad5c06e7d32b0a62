"""Energy capture: the instrument interface (``meter``), the work inside a window and its
baseline (``work``), the repeated, baseline-corrected method (``method``) and the raw captures
it keeps (``log``). Instrument-agnostic; a VISA supply behind the interface is
``drivers.energy.supply_meter.SupplyMeter`` (not imported here: the supply drivers import the
interface). docs/ENERGY_CAPTURES.md."""

from drivers.energy.meter import Capture, CaptureBox, CaptureOverrun, EnergyMeter, WindowNoise
from drivers.energy.log import CaptureLog, read_captures
from drivers.energy.method import CaptureSettings, EnergyCaptureError, EnergyEstimate, RepeatedCapture, summarize
from drivers.energy.work import HostLoop, IdleBaseline, LayerStep, WorkRun

__all__ = ["Capture", "CaptureBox", "CaptureLog", "CaptureOverrun", "CaptureSettings", "EnergyCaptureError",
           "EnergyEstimate", "EnergyMeter", "HostLoop", "IdleBaseline", "LayerStep", "RepeatedCapture",
           "WindowNoise", "WorkRun", "read_captures", "summarize"]
