"""Every bad input raises ValueError naming the parameter and what is allowed."""

import pytest

import wave_hf.data as wd

BAD_PARAMS = [
    # (name, params, regex the message must match)
    ("linear_vb", {"dd": 3}, r"unknown parameter\(s\) \['dd'\].*allowed: d \(an int >= 1, default 8\)"),
    ("linear_vb", {"d": 0}, r"'d' must be an int >= 1; got 0"),
    ("linear_vb", {"d": 2.5}, r"'d' must be an int"),
    ("linear_vb", {"d": True}, r"'d' must be an int"),
    ("linear_vb", {"horizon": 0}, r"'horizon' must be an int >= 1"),
    ("linear_vb", {"task": "T9"}, r"'task' must be one of 'T1', 'T2', 'T3', 'T4' or None"),
    ("linear_vb", {"input_mode": "teacher"}, r"one of 'zeros', 'autoregressive'"),
    ("linear_vb", {"task_id": (7, 0)}, r"'task_id' must be a tuple of 3 non-negative ints"),
    ("linear_vb", {"task_id": (7, 0, 0)}, r"id1\) must have exactly d = 8 set bits.*got 3 set bits"),
    ("linear_vb", {"task_id": (255 << 60, 0, 0)}, r"must be < 2\*\*\(s\*d\) = 2\*\*64"),
    ("linear_vb", {"d": 3, "s": 2, "task_id": (7, 6, 0)}, r"id2\) base-d digit 1 must be < d - 1 = 2; got 2"),
    ("linear_vb", {"task_id": (255, 0, 256)}, r"id3\).*must be < 2\*\*d = 256"),
    ("linear_vb", {"d": 4, "s": 4, "task": "T2"}, r"'T2' is defined only for d = s = 8"),
    ("linear_vb", {"d": 5, "s": 3, "task": "T3"}, r"'T3'.*needs d <= s"),
    ("linear_vb", {"task": "T1", "task_id": (9241421688590303745, 0, 0)}, r"differs from the given task_id"),
    ("fibonacci", {"s": 20, "seq_len": 20}, r"history s=20 must be shorter than seq_len=20"),
    ("fibonacci", {"seq_len": 40}, r"exceed 2\*\*24.*allowed seq_len <= \d+"),
    ("var", {"s": 70}, r"history s=70 must be shorter than seq_len=64"),
    ("var", {"spectral_radius": 1.2}, r"'spectral_radius' must be a number > 0.0 <= 1.0"),
    ("var", {"noise_std": -1.0}, r"'noise_std' must be a number >= 0.0"),
    ("var", {"noise_std": float("nan")}, r"'noise_std' must be a number"),
    ("nonlinear_hds", {"s": 64}, r"history s=64 must be shorter than seq_len=64"),
    ("copy", {"copy_len": 0}, r"'copy_len' must be an int >= 1"),
    ("adding", {"seq_len": 1}, r"'seq_len' must be an int >= 2"),
    ("induction_head", {"input_seq_len": 3, "induction_len": 2}, r"input_seq_len=3 must be >= induction_len \+ 2"),
    ("associative_recall", {"allow_dot": 1}, r"'allow_dot' must be a bool"),
    ("mqar", {"input_seq_len": 33}, r"input_seq_len must be even"),
    ("mqar", {"vocab_size": 8, "num_kv_pairs": 4}, r"allowed num_kv_pairs <= 3"),
    ("mqar", {"num_kv_pairs": 9}, r"must fit in input_seq_len=32"),
    ("lorenz", {"dt": 0.0}, r"'dt' must be a number > 0.0"),
    ("pendulum", {"substeps": 0}, r"'substeps' must be an int >= 1"),
    ("wave_ring", {"num_points": 8, "num_modes": 4}, r"num_modes=4 must be < num_points/2"),
    ("wave_ring", {"direction": "up"}, r"'direction' must be one of 'both', 'right', 'left'"),
]


@pytest.mark.parametrize("name,params,match", BAD_PARAMS, ids=[f"{n}-{sorted(p)}" for n, p, _ in BAD_PARAMS])
def test_bad_params(name, params, match):
    with pytest.raises(ValueError, match=match):
        wd.task_info(name, **params)
    with pytest.raises(ValueError, match=match):
        wd.sample_batch(name, 2, **params)


def test_unknown_name_lists_the_datasets():
    with pytest.raises(ValueError, match=r"unknown dataset 'lorenz96'; available: adding, associative_recall, copy"):
        wd.task_info("lorenz96")
    for fn in (wd.build_dataset, wd.stream_dataset, wd.ground_truth, wd.get_builder_class):
        with pytest.raises(ValueError, match="unknown dataset"):
            fn("nope")


def test_bad_call_arguments(tmp_path):
    cases = [
        (lambda: wd.sample_batch("copy", 0), r"batch_size must be a positive int"),
        (lambda: wd.sample_batch("copy", 2, step=-1), r"step must be a non-negative int"),
        (lambda: wd.sample_batch("copy", 2, seed=-3), r"seed must be a non-negative int"),
        (lambda: wd.sample_batch("copy", 2, seed=1.5), r"seed must be a non-negative int"),
        (lambda: wd.sample_batch("copy", 2, split="dev"), r"unknown split 'dev'; allowed: train, validation, test"),
        (lambda: wd.stream_dataset("copy", num_rows=0), r"num_rows must be a positive int or None"),
        (lambda: wd.build_dataset("copy", num_proc=0, cache_dir=str(tmp_path)), r"num_proc must be a positive int"),
        (lambda: wd.build_dataset("copy", num_train=0, cache_dir=str(tmp_path)), r"num_train must be a positive int"),
        (lambda: wd.build_dataset("copy", chunk_rows=0, cache_dir=str(tmp_path)), r"chunk_rows must be a positive"),
        (lambda: wd.get_builder_class("copy")(cache_dir=str(tmp_path), delay=-1), r"'delay' must be an int >= 0"),
        (lambda: wd.get_builder_class("copy")(cache_dir=str(tmp_path), horizon=3),
         r"unknown builder argument\(s\) \['horizon'\].*parameters delay, copy_len, num_categories"),
        (lambda: wd.get_builder_class("copy")(cache_dir=str(tmp_path), config_name="T2"),
         r"BuilderConfig 'T2' not found. Available: \['default'\]"),
        (lambda: wd.generation_info("not json"), r"not a wave_hf generation record"),
    ]
    for fn, match in cases:
        with pytest.raises(ValueError, match=match):
            fn()
