"""Small, fast parameter sets for every dataset family (the CPU test budget of tests/data is about a minute)."""

import datasets
import numpy as np

SMALL = {
    "linear_vb": {"d": 4, "s": 4, "horizon": 6},
    "fibonacci": {},
    "var": {"seq_len": 16},
    "nonlinear_hds": {"seq_len": 16},
    "copy": {"delay": 3, "copy_len": 4},
    "adding": {"seq_len": 12},
    "induction_head": {},
    "associative_recall": {},
    "mqar": {},
    "lorenz": {"seq_len": 16, "burn_in": 10, "substeps": 4},
    "pendulum": {"seq_len": 16, "substeps": 4},
    "wave_ring": {"seq_len": 16, "num_points": 8, "num_modes": 2},
}

REAL_KEYS = ("inputs", "targets", "loss_mask")
TOKEN_KEYS = ("input_ids", "labels", "loss_mask")


def as_numpy(ds: datasets.Dataset) -> dict[str, np.ndarray]:
    return ds.with_format("numpy")[:]


def same_columns(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(
        np.asarray(a[k]).dtype == np.asarray(b[k]).dtype and np.array_equal(np.asarray(a[k]), np.asarray(b[k]))
        for k in a
    )
