"""Data randomness that is a function of the sample, not of the worker: ``SeededSampler``.

mmengine seeds each data worker once, when it starts (``seed + worker id``); from then on the
augmentations a worker draws depend on everything it has drawn before. Persistent workers carry
that state from epoch to epoch and no checkpoint holds it, so a resumed run draws other
augmentations than the uninterrupted one, and results depend on ``num_workers``.

The samplers here give every index they yield its own seed,
``sample_seed(seed, epoch, index)``: :class:`SeededSampler` (mmengine's ``DefaultSampler``
ordering, for epoch-based loops) and :class:`SeededInfiniteSampler` (``InfiniteSampler``
ordering, for iteration-based loops; ``epoch`` is the pass over the dataset that the position
in the sample stream falls in). The indices are :class:`SeededIndex` objects, plain ``int``
values with a ``seed`` attribute. At construction the sampler gives the dataset it samples a
per-instance ``__getitems__`` (:class:`SeededGetItems`): PyTorch's data loader fetches every
batch through it, in the worker or, with ``num_workers=0``, in the main process, and it seeds
Python's ``random``, NumPy and torch (CPU) from each index's seed right before
``dataset[index]`` runs that sample's pipeline (so dataset wrappers such as ``ConcatDataset``,
which turn the index into a plain ``int``, are covered: the seeding happens at the outermost
access). The random states are restored afterwards, so the main process's own random stream
(dropout, batch augments; see ``EpochSeedHook``) does not depend on data loading.

Configs declare it: ``train_dataloader = dict(sampler=dict(type='mmmobileone.SeededSampler',
shuffle=True), ...)``. docs/workflow.md ("What survives what") explains what it guarantees.
"""
import contextlib
import random
from typing import Any, Iterator, List, Optional, Sequence, Sized

import numpy as np
import torch
from mmengine.dataset import DefaultSampler, InfiniteSampler

from ..errors import ConfigError
from ..registry import DATA_SAMPLERS

__all__ = [
    'SeededGetItems', 'SeededIndex', 'SeededInfiniteSampler', 'SeededSampler',
    'install_seeded_getitems', 'sample_seed', 'seeded_random'
]


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of the data pipeline for sample ``index`` in (0-based) ``epoch``.

    A pure function of its arguments, well mixed by NumPy's ``SeedSequence`` (nearby inputs
    give unrelated seeds).

    Args:
        seed: The run's seed (the sampler's ``seed``), a non-negative integer.
        epoch: The epoch (for an infinite sampler: the pass over the dataset).
        index: The sample's index in the dataset the loader reads.

    Returns:
        An integer in ``[0, 2**32)``, usable by ``random``, NumPy and torch alike.

    Raises:
        ValueError: an argument is negative or not an integer.

    Example:
        >>> sample_seed(0, 1, 5) == sample_seed(0, 1, 5) != sample_seed(0, 2, 5)
        True
    """
    for name, value in (('seed', seed), ('epoch', epoch), ('index', index)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ConfigError(f'sample_seed: {name} must be a non-negative integer, got {value!r}')
    state = np.random.SeedSequence((int(seed), int(epoch), int(index))).generate_state(1)
    return int(state[0])


class SeededIndex(int):
    """A dataset index (an ``int``) that carries the seed of its sample's augmentations.

    Picklable, so it travels to the data workers with its seed.

    Args:
        index: The dataset index.
        seed: The seed of that sample's data pipeline (:func:`sample_seed`).
    """

    seed: int

    def __new__(cls, index: int, seed: int) -> 'SeededIndex':
        obj = super().__new__(cls, index)
        obj.seed = int(seed)
        return obj

    def __reduce__(self):
        return SeededIndex, (int(self), self.seed)

    def __repr__(self) -> str:
        return f'SeededIndex({int(self)}, seed={self.seed})'


@contextlib.contextmanager
def seeded_random(seed: int) -> Iterator[None]:
    """Seed ``random``, NumPy and torch's CPU generator for the block; restore them after.

    CUDA generators are left alone (data pipelines run on the CPU).

    Args:
        seed: An integer in ``[0, 2**32)``.

    Example:
        >>> with seeded_random(3):
        ...     a = random.random()
        >>> with seeded_random(3):
        ...     b = random.random()
        >>> a == b
        True
    """
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        python_state, numpy_state, torch_state = states
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)


class SeededGetItems:
    """The ``__getitems__`` that :func:`install_seeded_getitems` gives a dataset instance.

    PyTorch's map-style fetcher calls ``dataset.__getitems__(indices)`` for a batch when the
    dataset has one. For each :class:`SeededIndex` this runs ``dataset[int(index)]`` under
    :func:`seeded_random` with the index's seed; any other index is fetched as it is.

    Args:
        dataset: The dataset (the outermost one, as the data loader holds it).
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __call__(self, indices: Sequence[int]) -> List[Any]:
        return [self.fetch(index) for index in indices]

    def fetch(self, index: int) -> Any:
        """One sample; seeded by the index's ``seed`` when it has one."""
        seed = getattr(index, 'seed', None)
        if seed is None:
            return self.dataset[index]
        with seeded_random(seed):
            return self.dataset[int(index)]


def install_seeded_getitems(dataset: Any) -> None:
    """Make the data loader fetch ``dataset``'s samples through :class:`SeededGetItems`.

    Idempotent. The attribute is set on the instance (a plain attribute: it survives the fork
    of the data workers and pickling), so other instances of the class are untouched.

    Raises:
        TypeError: ``dataset`` cannot take instance attributes (``__slots__``).
    """
    current = getattr(dataset, '__dict__', {}).get('__getitems__')
    if isinstance(current, SeededGetItems) and current.dataset is dataset:
        return
    try:
        dataset.__getitems__ = SeededGetItems(dataset)
    except AttributeError as error:
        raise TypeError(f'cannot seed the samples of {type(dataset).__name__}: it takes no '
                        f'instance attributes ({error}); SeededSampler needs a dataset '
                        'object that does') from None


@DATA_SAMPLERS.register_module()
class SeededSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` whose indices carry ``sample_seed(seed, epoch, index)``.

    Same order, length, ``round_up`` and distributed split as ``DefaultSampler`` (the epoch is
    set by ``DistSamplerSeedHook``, as there). The augmentations of a sample then depend on
    (seed, epoch, index) only: not on the worker that loads it, on ``num_workers``, on
    ``persistent_workers`` or on the number of processes, and a resumed run repeats them.
    With ``round_up=True`` in a distributed run, the few samples repeated to fill the last
    batch get the augmentations of their first occurrence.

    Args:
        dataset: The dataset; it is given a seeding ``__getitems__``
            (:func:`install_seeded_getitems`).
        shuffle: Shuffle the indices every epoch.
        seed: The run's seed (the Runner passes ``randomness.seed``); ``None`` draws one, as
            ``DefaultSampler`` does.
        round_up: As in ``DefaultSampler``.
    """

    def __init__(self,
                 dataset: Sized,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 round_up: bool = True) -> None:
        super().__init__(dataset, shuffle=shuffle, seed=seed, round_up=round_up)
        install_seeded_getitems(dataset)

    def __iter__(self) -> Iterator[SeededIndex]:
        seed, epoch = self.seed, self.epoch  # now: set_epoch may run before the next iteration
        return (SeededIndex(index, sample_seed(seed, epoch, index))
                for index in super().__iter__())


@DATA_SAMPLERS.register_module()
class SeededInfiniteSampler(InfiniteSampler):
    """mmengine's ``InfiniteSampler`` whose indices carry a per-sample seed.

    The stream is ``InfiniteSampler``'s (consecutive permutations of the dataset, split across
    processes). The sample at global position ``p`` of the stream gets
    ``sample_seed(seed, p // len(dataset), index)``: its pass over the dataset plays the role of
    the epoch. An iteration-based run resumed at iteration ``n`` (mmengine replays the first
    ``n`` batches of the stream) therefore draws the same augmentations as the uninterrupted
    run, whatever ``num_workers`` and ``persistent_workers`` are.

    Args:
        dataset: The dataset; it is given a seeding ``__getitems__``
            (:func:`install_seeded_getitems`).
        shuffle: Shuffle each pass.
        seed: The run's seed; ``None`` draws one, as ``InfiniteSampler`` does.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: Optional[int] = None) -> None:
        super().__init__(dataset, shuffle=shuffle, seed=seed)
        self._yielded = 0  # indices of this rank handed out so far (the stream is shared)
        install_seeded_getitems(dataset)

    def __iter__(self) -> Iterator[SeededIndex]:
        for index in super().__iter__():
            position = self.rank + self.world_size * self._yielded
            self._yielded += 1
            yield SeededIndex(index, sample_seed(self.seed, position // self.size, index))
