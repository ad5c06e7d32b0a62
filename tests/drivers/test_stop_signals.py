"""drivers.stop_signals: every stop signal the Ctrl-C way, held back by deferred(), and latched
so that a stop whose exception Python dropped is raised at the next check()."""

import gc
import os
import signal

import pytest

from drivers import stop_signals
from drivers.stop_signals import StopSignal


class SignalledInFinalizer:
    """Sends ``sig`` to this process from ``__del__``: the handler runs inside the finalizer,
    where Python prints its exception and drops it."""

    def __init__(self, sig: int):
        self.sig = sig

    def __del__(self):
        os.kill(os.getpid(), self.sig)
        for _ in range(1000):  # bytecode boundaries, where Python runs the handler
            pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the drop itself
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_dropped_in_a_finalizer_is_raised_at_the_next_check(sig):
    with stop_signals.interrupting():
        stop_signals.check()  # nothing arrived yet
        obj = SignalledInFinalizer(sig)
        del obj
        gc.collect()
        with pytest.raises(StopSignal) as info:
            stop_signals.check()
    assert info.value.signum == sig and stop_signals.exit_code(info.value) == 128 + sig
    assert stop_signals.signal_name(info.value) == signal.Signals(sig).name


def test_each_interrupting_block_starts_without_a_stop():
    with pytest.raises(StopSignal):
        with stop_signals.interrupting():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10_000):
                pass
    stop_signals.check()  # the block's stop does not leak out of it
    with stop_signals.interrupting():
        stop_signals.check()


def test_deferred_holds_a_stop_until_the_section_ends():
    reached_end = False
    with pytest.raises(StopSignal) as info:
        with stop_signals.interrupting():
            with stop_signals.deferred():
                os.kill(os.getpid(), signal.SIGHUP)
                for _ in range(10_000):
                    pass
                reached_end = True
    assert reached_end and info.value.signum == signal.SIGHUP


def test_previous_handlers_come_back():
    before = {sig: signal.getsignal(sig) for sig in stop_signals.STOP_SIGNALS}
    with stop_signals.interrupting():
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {sig: signal.getsignal(sig) for sig in stop_signals.STOP_SIGNALS} == before


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the drop itself
def test_a_nested_block_keeps_the_latch_of_the_block_around_it():
    with stop_signals.interrupting():
        obj = SignalledInFinalizer(signal.SIGTERM)
        del obj
        gc.collect()
        with stop_signals.interrupting():  # a command's own block inside the CLI's
            pass
        with pytest.raises(StopSignal):
            stop_signals.check()
