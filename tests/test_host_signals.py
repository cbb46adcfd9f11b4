"""tests/host_signals.py: a signal's disposition put back whole after a test changed it."""

import signal

import pytest

from tests.host_signals import (
    kept_disposition,
    os_action,
    os_handler,
    python_sigint,
    set_os_action,
)


def _handler(signum, frame):
    raise AssertionError("not to be called")


def test_a_python_handler_comes_back_in_python_and_in_the_os():
    with kept_disposition(signal.SIGUSR1):
        signal.signal(signal.SIGUSR1, _handler)
        trampoline = os_handler(signal.SIGUSR1)
        with kept_disposition(signal.SIGUSR1):
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
            assert os_handler(signal.SIGUSR1) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGUSR1) is _handler
        assert os_handler(signal.SIGUSR1) == trampoline != signal.SIG_IGN


def test_an_action_set_behind_pythons_back_comes_back():
    # The OS ignores SIGUSR1 while CPython's record says _handler (as after a
    # library's sigaction, or a handler an embedding program set): restoring
    # CPython's record alone would make the signal call _handler again.
    with kept_disposition(signal.SIGUSR1):
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        ignore = os_action(signal.SIGUSR1)
        signal.signal(signal.SIGUSR1, _handler)
        set_os_action(signal.SIGUSR1, ignore)
        assert signal.getsignal(signal.SIGUSR1) is _handler
        with kept_disposition(signal.SIGUSR1):
            signal.signal(signal.SIGUSR1, signal.default_int_handler)
            assert os_handler(signal.SIGUSR1) not in (signal.SIG_IGN, signal.SIG_DFL)
        assert os_handler(signal.SIGUSR1) == signal.SIG_IGN
        signal.raise_signal(signal.SIGUSR1)   # ignored: _handler is not called


def test_python_sigint_raises_keyboard_interrupt_then_puts_back_what_was():
    # conftest's sigint_raises: a runner started with SIGINT ignored
    with kept_disposition(signal.SIGINT):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with python_sigint():
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert os_handler(signal.SIGINT) == signal.SIG_IGN
        signal.raise_signal(signal.SIGINT)   # ignored again
