"""``mmmobileone.SeededSampler`` / ``SeededInfiniteSampler``: data randomness per sample.

Every sample's pipeline is seeded from (seed, epoch, index), so batches do not depend on which
worker loads them, on ``num_workers`` or on ``persistent_workers``; the end-to-end consequence
(a killed and resumed run equals an uninterrupted one) is tested in tests/test_robustness.py.
"""
import pickle
import random
from typing import Dict, List

import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.runner import Runner
from torch.utils.data import ConcatDataset, Dataset

from mmmobileone.datasets.samplers import (SeededIndex, SeededInfiniteSampler, SeededSampler,
                                           sample_seed, seeded_random)
from mmmobileone.registry import DATA_SAMPLERS


class RandomDraws(Dataset):
    """Each sample: ``offset`` + its index, and one draw from each of ``random``, NumPy and
    torch."""

    def __init__(self, size: int, offset: int = 0) -> None:
        self.size, self.offset = size, offset

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Dict:
        assert type(index) is int  # the seeding layer hands the dataset plain ints
        return dict(index=self.offset + index, draws=torch.tensor(
            [random.random(), float(np.random.rand()),
             torch.rand(1, dtype=torch.float64).item()], dtype=torch.float64))


def _seeds(sampler) -> List[tuple]:
    return [(int(i), i.seed) for i in sampler]


def test_sample_seed_is_a_pure_function_of_seed_epoch_and_index():
    grid = [(s, e, i) for s in (0, 1, 2**31 - 1) for e in range(4) for i in range(50)]
    first = [sample_seed(*key) for key in grid]
    random.seed(7)  # nothing global enters the seed
    np.random.seed(7)
    torch.manual_seed(7)
    assert [sample_seed(*key) for key in grid] == first
    assert len(set(first)) == len(grid)  # a different seed for every (seed, epoch, index)
    assert all(0 <= value < 2**32 for value in first)
    assert sample_seed(np.int64(3), 1, 2) == sample_seed(3, 1, 2)
    for bad in ((-1, 0, 0), (0, -2, 0), (0, 0, 1.5), (0, True, 0)):
        with pytest.raises(ValueError, match='must be a non-negative integer, got'):
            sample_seed(*bad)


def test_seeded_sampler_keeps_default_order_and_tags_each_index():
    dataset = RandomDraws(10)
    for epoch in (0, 3):
        seeded = SeededSampler(dataset, shuffle=True, seed=5)
        plain = DefaultSampler(dataset, shuffle=True, seed=5)
        seeded.set_epoch(epoch)
        plain.set_epoch(epoch)
        indices = list(seeded)
        assert [int(i) for i in indices] == list(plain) and len(seeded) == 10
        assert all(type(i) is SeededIndex for i in indices)
        assert _seeds(seeded) == [(i, sample_seed(5, epoch, i)) for i in plain]
    index = SeededIndex(7, 123)
    copy = pickle.loads(pickle.dumps(index))
    assert (type(copy), int(copy), copy.seed, copy == 7) == (SeededIndex, 7, 123, True)
    assert repr(copy) == 'SeededIndex(7, seed=123)'


def test_infinite_sampler_seeds_by_pass_over_the_data():
    dataset = RandomDraws(6)
    seeded = iter(SeededInfiniteSampler(dataset, shuffle=True, seed=9))
    plain = iter(InfiniteSampler(dataset, shuffle=True, seed=9))
    got = [next(seeded) for _ in range(15)]  # two and a half passes
    expected = [next(plain) for _ in range(15)]
    assert [int(i) for i in got] == expected
    assert [i.seed for i in got] == [sample_seed(9, p // 6, i) for p, i in enumerate(expected)]


def test_seeded_random_restores_the_generators():
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    before = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    with seeded_random(42):
        inside = (random.random(), np.random.rand(), torch.rand(1).item())
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == before
    with seeded_random(42):
        assert (random.random(), np.random.rand(), torch.rand(1).item()) == inside


def _batches(dataset, sampler_type: str, num_workers: int, epochs: int = 2) -> List:
    """Batches of ``epochs`` epochs from a loader built by mmengine's Runner from a config."""
    loader = Runner.build_dataloader(
        dict(batch_size=3, num_workers=num_workers, persistent_workers=num_workers > 0,
             sampler=dict(type=sampler_type, shuffle=True), dataset=dataset), seed=11)
    batches = []
    if sampler_type.endswith('InfiniteSampler'):
        stream = iter(loader)
        return [next(stream) for _ in range(epochs * len(loader))]
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)
        batches += list(loader)
    return batches


@pytest.mark.parametrize('sampler_type',
                         ['mmmobileone.SeededSampler', 'mmmobileone.SeededInfiniteSampler'])
def test_batches_do_not_depend_on_num_workers(sampler_type):
    """0 workers vs 2 persistent workers over 2 epochs, behind a ConcatDataset (a wrapper that
    hands its members plain ints): identical samples, drawn from (seed, epoch, index)."""
    assert DATA_SAMPLERS.get(sampler_type.split('.')[-1]) is not None
    states = (random.getstate(), np.random.get_state()[1].copy())
    dataset = ConcatDataset([RandomDraws(4), RandomDraws(5, offset=4)])
    in_main = _batches(dataset, sampler_type, num_workers=0)
    # num_workers=0: the samples drew from the main process's generators, which are restored
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    in_workers = _batches(ConcatDataset([RandomDraws(4), RandomDraws(5, offset=4)]),
                          sampler_type, num_workers=2)
    assert len(in_main) == len(in_workers) == 6
    for main_batch, worker_batch in zip(in_main, in_workers):
        assert main_batch['index'] == worker_batch['index']
        assert torch.equal(torch.stack(main_batch['draws']), torch.stack(worker_batch['draws']))
    # the draws are those of the sample's seed: sample i of pass p gets sample_seed(11, p, i)
    samples = [(i, d) for b in in_main for i, d in zip(b['index'], b['draws'])]
    for position, (index, draws) in enumerate(samples):
        with seeded_random(sample_seed(11, position // 9, index)):
            assert torch.equal(dataset[index]['draws'], draws)
    # not vacuous: the same image gets new draws in the next epoch
    first, second = dict(samples[:9]), dict(samples[9:])
    assert sorted(first) == sorted(second) == list(range(9))
    assert all(not torch.equal(first[i], second[i]) for i in range(9))
