"""Run ``wave-hf train`` and SIGKILL the process at a chosen point, for the crash tests.

    python -m tests.training.crash_harness POINT:STEP --config run.yaml [--key=value ...]

Points: ``after_step`` (right after optimizer step STEP's training row was logged, before any evaluation or checkpoint
of it) and ``in_checkpoint`` (while checkpoint STEP is being written: after ``save_state`` filled the temp folder,
before its ``trainer_state.json`` is written and the folder renamed into place). The kill is a real ``SIGKILL`` (no
cleanup, no atexit, no flush), the same as an OOM killer or ``kill -9``; the harness only fixes *when* it happens, by
wrapping two functions of the trainer before the run starts, so the tests are deterministic and the production code
has no kill switch.
"""

from __future__ import annotations

import os
import signal
import sys

from wave_hf import cli
from wave_hf.training import checkpoints, logs


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def inject(point: str, at: int) -> None:
    """Patch the trainer so that the process kills itself at ``point`` of optimizer step ``at``."""
    if point == "after_step":
        log = logs.CSVTracker.log

        def log_then_kill(self, values, step=None, **kwargs):
            log(self, values, step, **kwargs)
            if step == at and any(k.startswith("train/") for k in values):
                _kill()

        logs.CSVTracker.log = log_then_kill
    elif point == "in_checkpoint":
        write = checkpoints._write_json_durable

        def kill_before_state(path, data):
            if path.parent.name == f".tmp-step_{at:08d}":
                _kill()
            write(path, data)

        checkpoints._write_json_durable = kill_before_state
    else:
        raise SystemExit(f"unknown fault point {point!r}; use after_step or in_checkpoint")


def main(argv: list[str]) -> int:
    point, _, step = argv[0].partition(":")
    inject(point, int(step))
    return cli.main(["train", *argv[1:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
