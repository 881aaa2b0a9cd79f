#!/usr/bin/env python
"""Reproduce the claims of "Hidden Traveling Waves bind Working Memory Variables in RNNs" (the command line of
``wave_hf.experiments``; also ``python -m wave_hf.experiments`` and ``wave-hf reproduce``).

    python scripts/reproduce_paper.py --out reports/paper            # full run (< 60 min on 2 cores)
    python scripts/reproduce_paper.py --quick --out /tmp/paper_quick  # reduced run (what the test suite runs)
"""

from wave_hf.experiments import main

if __name__ == "__main__":
    raise SystemExit(main())
