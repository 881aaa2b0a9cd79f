"""Command line of the reproduction (``python -m wave_hf.experiments``, ``scripts/reproduce_paper.py``,
``wave-hf reproduce``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .jobs import PARTS
from .pipeline import MissingRunsError, reproduce
from .settings import settings_for

__all__ = ["build_parser", "main"]

DESCRIPTION = 'Reproduce the claims of "Hidden Traveling Waves bind Working Memory Variables in RNNs" with wave_hf.'


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--out", default=str(Path("reports") / "paper"),
                        help="report folder (default: reports/paper under the working directory)")
    parser.add_argument("--quick", action="store_true", help="reduced run (about a minute; what the test suite runs)")
    parser.add_argument("--workers", type=int, default=2, help="training processes at a time (one thread each)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every training length (e.g. 0.5)")
    parser.add_argument("--reuse-runs", action="store_true",
                        help="reuse finished runs in OUT/runs whose run config matches (re-analyse without retraining)")
    parser.add_argument("--part", type=int, choices=PARTS,
                        help="train one part of the split run (each under an hour on 2 cores) and report it with "
                             "the earlier parts' runs from OUT/runs: 1 = sections 1-10 and 11's raw substrate, "
                             "2 = section 11's wave-initialised Elman runs and H3's full recipe, 3 = section 12 "
                             "(MQAR), 4 = section 11's robustness grid, then the whole report")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the reproduction with command-line arguments ``argv`` (``sys.argv[1:]`` when None); returns the exit
    status (0: the report was written; failing criteria are reported, not an error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.scale > 0:
        parser.error("--scale must be > 0")
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    mode = "quick" if args.quick else "full"
    try:
        reproduce(mode, settings_for(mode, args.scale), Path(args.out), workers=args.workers,
                  reuse_runs=args.reuse_runs, part=args.part)
    except MissingRunsError as e:  # a later part without the earlier parts' runs
        parser.error(str(e))
    return 0
