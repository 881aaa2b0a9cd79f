"""Fault injection for the crash tests: ``WAVE_HF_FAULT=<point>:<step>`` makes the process SIGKILL itself.

Points: ``after_step`` (right after optimizer step N completed, before any checkpoint of it) and ``in_checkpoint``
(while checkpoint N is being written: after ``save_state`` filled the temp folder, before it is renamed into place).
The kill is a real ``SIGKILL`` (no cleanup, no atexit, no flush), the same as an OOM killer or ``kill -9``; the
variable only fixes *when* it happens, so the test is deterministic. Unset, this module does nothing.
"""

from __future__ import annotations

import os
import signal

__all__ = ["maybe_kill"]

ENV = "WAVE_HF_FAULT"


def maybe_kill(point: str, step: int) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    want_point, _, want_step = spec.partition(":")
    if want_point == point and want_step.isdigit() and int(want_step) == step:
        os.kill(os.getpid(), signal.SIGKILL)
