"""Progressive learning (paper Table 15): train resolution and AutoAugment strength by epoch.

mmpretrain 1.2.0's MobileOne configs hand ``SwitchRecipeHook`` a ``pipeline=`` key that the hook
ignores (it reads ``train_pipeline``), so their resolution never changes. This hook does not
rebuild pipelines from config copies: before every training epoch it computes the phase from the
epoch number alone and, when the phase differs from the one in force, sets the crop size of every
``RandomResizedCrop`` and the strength of every :class:`ScaledAutoAugment` in the train
dataset's pipeline, then drops the loader's persistent worker iterator so that the workers restart
with the new pipeline. Being stateless, it is right after ``--resume`` at any epoch.
"""
import bisect
from typing import Any, List, Optional, Sequence, Tuple

from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.datasets.transforms import RandomResizedCrop

from ...errors import ConfigError
from ...registry import HOOKS
from .transforms import ScaledAutoAugment

PAPER_MILESTONES = (39, 114)
PAPER_RESOLUTIONS = (160, 192, 224)
PAPER_STRENGTHS = (0.3, 0.6, 1.0)


def _dataset_pipelines(dataset: Any) -> List[Any]:
    """The pipelines of a dataset, looking through Concat / Repeat / ClassBalanced wrappers."""
    if hasattr(dataset, 'datasets'):
        return [p for ds in dataset.datasets for p in _dataset_pipelines(ds)]
    if hasattr(dataset, 'pipeline'):
        return [dataset.pipeline]
    if hasattr(dataset, 'dataset'):
        return _dataset_pipelines(dataset.dataset)
    raise ConfigError(f'cannot find the pipeline of dataset {type(dataset).__name__}')


def _walk(transform: Any, crops: List, augments: List) -> None:
    if isinstance(transform, ScaledAutoAugment):
        augments.append(transform)
    elif isinstance(transform, RandomResizedCrop):
        crops.append(transform)
    elif isinstance(getattr(transform, 'transforms', None), (list, tuple)):
        for child in transform.transforms:  # Compose, RandomApply, RandomChoice, ...
            _walk(child, crops, augments)


def find_train_transforms(dataset: Any) -> Tuple[List[RandomResizedCrop],
                                                 List[ScaledAutoAugment]]:
    """The ``RandomResizedCrop`` and ``ScaledAutoAugment`` transforms in a dataset's pipeline."""
    crops: List[RandomResizedCrop] = []
    augments: List[ScaledAutoAugment] = []
    for pipeline in _dataset_pipelines(dataset):
        _walk(pipeline, crops, augments)
    return crops, augments


def _positive_ints(name: str, values: Sequence, allow_empty: bool = False) -> Tuple[int, ...]:
    if not isinstance(values, (list, tuple)) or (not values and not allow_empty) or any(
            isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values):
        raise ConfigError(f'{name} must be a list of positive integers, got {values!r}')
    return tuple(values)


@HOOKS.register_module()
class ProgressiveLearningHook(Hook):
    """Switch the train resolution and AutoAugment strength at epoch milestones.

    Phase ``i`` covers epochs ``[milestones[i-1], milestones[i])`` (0-based epochs; phase 0
    starts at epoch 0) and trains at ``resolutions[i]`` with AutoAugment strength
    ``strengths[i]``. The defaults are the paper's Table 15: epochs 0-38 at 160 px and strength
    0.3, 39-113 at 192 px and 0.6, 114-299 at 224 px and 1.0. Only the train pipeline changes;
    validation keeps its own (224 px) pipeline.

    The train pipeline must contain mmpretrain's ``RandomResizedCrop``; the strength applies to
    each ``mmmobileone.ScaledAutoAugment`` in it. A pipeline without one (S0, S1, mu variants)
    switches only the resolution, and the log says so at every switch.

    Args:
        milestones: First epoch (0-based) of every phase after the first, strictly increasing.
        resolutions: Square crop size of each phase (one more than milestones).
        strengths: AutoAugment strength in [0, 1] of each phase (one more than milestones).
    """

    priority = 'NORMAL'

    def __init__(self,
                 milestones: Sequence[int] = PAPER_MILESTONES,
                 resolutions: Sequence[int] = PAPER_RESOLUTIONS,
                 strengths: Sequence[float] = PAPER_STRENGTHS) -> None:
        self.milestones = _positive_ints('milestones', milestones, allow_empty=True)
        if any(b <= a for a, b in zip(self.milestones, self.milestones[1:])):
            raise ConfigError(f'milestones must be strictly increasing, got {milestones!r}')
        self.resolutions = _positive_ints('resolutions', resolutions)
        if not isinstance(strengths, (list, tuple)) or any(
                isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s <= 1
                for s in strengths):
            raise ConfigError(f'strengths must be a list of numbers in [0, 1], got {strengths!r}')
        self.strengths = tuple(float(s) for s in strengths)
        num_phases = len(self.milestones) + 1
        if len(self.resolutions) != num_phases or len(self.strengths) != num_phases:
            raise ConfigError(
                f'{len(self.milestones)} milestones make {num_phases} phases, but got '
                f'{len(self.resolutions)} resolutions {resolutions!r} and '
                f'{len(self.strengths)} strengths {strengths!r}')
        self._phase: Optional[int] = None

    def phase(self, epoch: int) -> int:
        """Index of the phase that 0-based ``epoch`` belongs to."""
        return bisect.bisect_right(self.milestones, epoch)

    def recipe(self, epoch: int) -> Tuple[int, float]:
        """``(resolution, strength)`` of 0-based ``epoch``."""
        phase = self.phase(epoch)
        return self.resolutions[phase], self.strengths[phase]

    def before_train(self, runner) -> None:
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            raise ConfigError('ProgressiveLearningHook switches by epoch and needs an epoch-based '
                              f'train loop, got {type(runner.train_loop).__name__}')
        crops, _ = find_train_transforms(runner.train_loop.dataloader.dataset)
        if not crops:
            raise ConfigError('ProgressiveLearningHook: the train pipeline has no '
                              'RandomResizedCrop whose size it could switch')
        self._phase = None  # (re)apply at the first epoch, whether it is 0 or a resumed one

    def before_train_epoch(self, runner) -> None:
        phase = self.phase(runner.epoch)
        if phase == self._phase:
            return
        loader = runner.train_loop.dataloader
        crops, augments = find_train_transforms(loader.dataset)
        resolution, strength = self.resolutions[phase], self.strengths[phase]
        for crop in crops:
            crop.scale = (resolution, resolution)
        for augment in augments:
            augment.strength = strength
        # Persistent workers hold copies of the old pipeline: make the next epoch start new ones.
        if getattr(loader, '_iterator', None) is not None:
            loader._iterator = None
        self._phase = phase
        begin = self.milestones[phase - 1] if phase else 0
        end = self.milestones[phase] - 1 if phase < len(self.milestones) else runner.max_epochs - 1
        if augments:
            augment_text = f'AutoAugment strength {strength}'
        else:
            augment_text = 'no ScaledAutoAugment in the train pipeline (strength unused)'
        runner.logger.info(
            f'ProgressiveLearningHook: epoch {runner.epoch} is in phase {phase + 1}/'
            f'{len(self.resolutions)} (epochs {begin}-{end}): train resolution {resolution}, '
            f'{augment_text}')
