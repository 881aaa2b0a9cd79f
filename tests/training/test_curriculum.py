"""The horizon curriculum: advance on a passing training batch, complete at the last level, state round trip."""

import pytest

from wave_hf.training.curriculum import Curriculum
from wave_hf.training.schema import CurriculumConfig


def test_advances_only_on_a_passing_batch_and_completes_at_the_end():
    c = Curriculum(CurriculumConfig(param="horizon", values=[10, 20, 40], threshold=0.9))
    assert c.params() == {"horizon": 10} and not c.completed
    assert not c.observe(0.9, step=1)  # strictly greater than the threshold
    assert c.observe(0.95, step=2) and c.value == 20
    assert not c.observe(0.5, step=3) and c.value == 20
    assert c.observe(0.91, step=4) and c.value == 40 and not c.completed
    assert not c.observe(0.99, step=5) and c.completed and c.value == 40
    assert c.advanced_at == [2, 4]


def test_loss_metric_passes_below_threshold():
    c = Curriculum(CurriculumConfig(param="seq_len", values=[8, 16], threshold=0.1), higher_is_better=False)
    assert not c.observe(0.2, step=1) and c.observe(0.05, step=2) and c.params() == {"seq_len": 16}


def test_state_round_trip_and_mismatch():
    cfg = CurriculumConfig(param="horizon", values=[10, 20], threshold=0.5)
    a = Curriculum(cfg)
    a.observe(0.9, 7)
    b = Curriculum(cfg)
    b.load_state_dict(a.state_dict())
    assert (b.level, b.completed, b.advanced_at) == (1, False, [7])
    other = Curriculum(CurriculumConfig(param="horizon", values=[10, 30], threshold=0.5))
    with pytest.raises(ValueError, match="differ from the run config"):
        other.load_state_dict(a.state_dict())


def test_no_curriculum_is_a_no_op():
    c = Curriculum(None)
    assert c.params() == {} and c.completed and not c.observe(1.0, 1) and c.value is None
