"""``python -m wave_hf.experiments [--quick] [--out DIR] ...``: the paper reproduction."""

from .cli import main

raise SystemExit(main())
