"""Stopping a long job cleanly on SIGINT (Ctrl-C) or SIGTERM (a cluster's time limit, ``kill``).

Not a part of the paper's method; the engineering that lets a one-hour CPU run or a GPU job on a
cluster be interrupted and resumed (docs/long_runs.md). A job (training, data generation) runs
under :func:`deferred_signals`: the first signal only sets a flag, which the job polls at its safe
points (after an optimiser step, after a written batch). There it saves its progress and raises an
:class:`Interrupted` exception; the ``wdno`` command turns that into one line and the exit status
``128 + signal`` (130 for SIGINT, 143 for SIGTERM). A second signal stops at once
(``KeyboardInterrupt``); the progress saved before stays valid. Library code never exits the
interpreter itself, so a notebook only sees the exception.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import threading

__all__ = ["Interrupted", "SignalFlag", "deferred_signals"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """A job stopped on a signal after saving its progress; rerunning it continues.

    Attributes:
        signal_number: the signal received (``signal.SIGINT`` or ``signal.SIGTERM``).
    """

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.signal_number = int(signal_number)

    @property
    def exit_status(self) -> int:
        """The shell's status of a process killed by the signal: 130 (SIGINT), 143 (SIGTERM)."""
        return 128 + self.signal_number


@dataclasses.dataclass
class SignalFlag:
    """The first signal received under :func:`deferred_signals` (``None``: none yet)."""

    received: int | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else ""


@contextlib.contextmanager
def deferred_signals(signals=SIGNALS):
    """Defer SIGINT/SIGTERM to the job's safe points: yields a :class:`SignalFlag` to poll.

    The first signal sets ``flag.received`` (and says so on stderr); a second one raises
    ``KeyboardInterrupt`` at once. The previous handlers are restored on exit. Outside the main
    thread (where Python cannot install handlers) the flag simply never rises.
    """
    flag = SignalFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(number, frame):
        if flag.received is not None:
            raise KeyboardInterrupt
        flag.received = number
        print(
            f"\nwdno: {signal.Signals(number).name} received: saving progress, then stopping "
            "(send it again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    previous = {number: signal.signal(number, handler) for number in signals}
    try:
        yield flag
    finally:
        for number, old in previous.items():
            signal.signal(number, signal.SIG_DFL if old is None else old)
