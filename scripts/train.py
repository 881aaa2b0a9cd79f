#!/usr/bin/env python
"""Train a wave_hf run config, single process or under ``accelerate launch``.

    python scripts/train.py --config t1_lbc [--resume] [--overwrite] [--key=value ...]
    accelerate launch --multi_gpu --num_processes 2 scripts/train.py --config NAME_OR_PATH
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no \\
        --dynamo_backend no scripts/train.py --config ...      # 2-process DDP on CPU (gloo)

Same arguments as ``wave-hf train`` (see ``wave_hf/cli.py``): ``--config`` takes a YAML path or the name of a run
config shipped with wave_hf (``wave-hf train --list``).
"""

import sys

from wave_hf.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
