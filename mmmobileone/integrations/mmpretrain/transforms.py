"""AutoAugment whose magnitudes are scaled by a strength, as in the MobileOne recipe.

Paper, App. C.1: "The magnitude for augmentations in AutoAugment policy are between 0-9, we
simply multiply alpha with this value to simulate variable strength of autoaugmentation." Every
operation's parameter is a linear function of that 0-9 magnitude level, equal to the identity at
level 0 (rotate by 0 degrees, posterize to 8 bits, solarize above 256, ...). Multiplying the level
by ``strength`` therefore means ``value = identity + strength * (value - identity)``.
"""
import copy
from typing import Dict, List, Optional, Sequence, Union

from mmcv.transforms import Compose
from mmpretrain.datasets.transforms import AutoAugment
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS

from ...errors import ConfigError
from ...registry import TRANSFORMS

#: Operation type -> (argument that holds its magnitude, the argument's identity value).
MAGNITUDE_ARGS: Dict[str, tuple] = {
    'Posterize': ('bits', 8),
    'Solarize': ('thr', 256),
    'SolarizeAdd': ('magnitude', 0),
    'Rotate': ('angle', 0),
    'Shear': ('magnitude', 0),
    'Translate': ('magnitude', 0),
    'ColorTransform': ('magnitude', 0),
    'Contrast': ('magnitude', 0),
    'Brightness': ('magnitude', 0),
    'Sharpness': ('magnitude', 0),
}
#: Operations without a magnitude: the strength leaves them unchanged.
MAGNITUDE_FREE = ('AutoContrast', 'Equalize', 'Invert')


def _check_strength(strength) -> float:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not (
            0 <= strength <= 1):
        raise ConfigError(f'AutoAugment strength must be a number in [0, 1], got {strength!r}')
    return float(strength)


def scale_policy(policy: Dict, strength: float) -> Dict:
    """Return a copy of one AutoAugment operation config with its magnitude scaled.

    Args:
        policy: An operation config such as ``dict(type='Rotate', angle=30., prob=0.6)``.
        strength: Factor in [0, 1] applied to the operation's magnitude level.

    Raises:
        ValueError: for an operation this module does not know, or one given by
            ``magnitude_range`` (RandAugment style) instead of an explicit value.

    Example:
        >>> scale_policy(dict(type='Rotate', angle=30., prob=0.6), 0.5)
        {'type': 'Rotate', 'angle': 15.0, 'prob': 0.6}
        >>> scale_policy(dict(type='Solarize', thr=128., prob=0.6), 0.25)['thr']
        224.0
    """
    strength = _check_strength(strength)
    scaled = copy.deepcopy(policy)
    op = str(policy.get('type', '')).split('.')[-1]
    if op in MAGNITUDE_FREE:
        return scaled
    if op not in MAGNITUDE_ARGS:
        raise ConfigError(f'cannot scale AutoAugment operation {policy!r}: known operations are '
                          f'{sorted(MAGNITUDE_ARGS)} (with a magnitude) and {list(MAGNITUDE_FREE)}')
    key, identity = MAGNITUDE_ARGS[op]
    if policy.get(key) is None:
        raise ConfigError(f'cannot scale AutoAugment operation {policy!r}: it must give its '
                          f'magnitude explicitly as {key!r}')
    scaled[key] = identity + strength * (policy[key] - identity)
    return scaled


@TRANSFORMS.register_module()
class ScaledAutoAugment(AutoAugment):
    """mmpretrain's AutoAugment with every magnitude multiplied by ``strength``.

    ``strength`` can be changed at any time (the progressive-learning hook does so between
    epochs); the operations are rebuilt from the full-strength policies, so switching back and
    forth never accumulates rounding.

    Args:
        policies: ``'imagenet'`` (mmpretrain's ImageNet policy) or a list of sub-policies, each a
            list of operation configs with explicit magnitudes.
        strength: Magnitude factor in [0, 1]; 1 is plain AutoAugment, 0 leaves only the
            magnitude-free operations (AutoContrast, Equalize, Invert).
        hparams: Arguments merged into every operation that accepts them (e.g. ``pad_val``,
            ``interpolation``). Defaults to ``dict(pad_val=128)``.

    Example:
        >>> aug = ScaledAutoAugment(strength=0.3)
        >>> aug.strength = 0.6
        >>> round(aug.policies[0][1]['angle'], 6)
        18.0
    """

    def __init__(self,
                 policies: Union[str, Sequence[Sequence[Dict]]] = 'imagenet',
                 strength: float = 1.0,
                 hparams: Optional[Dict] = None) -> None:
        super().__init__(policies=policies,
                         hparams=dict(pad_val=128) if hparams is None else hparams)
        self.full_policies: List[List[Dict]] = copy.deepcopy(self.policies)
        for sub in self.full_policies:  # fail at construction on an unscalable operation
            for op in sub:
                scale_policy(op, 1.0)
        self.strength = strength

    @property
    def strength(self) -> float:
        """The magnitude factor in [0, 1]; setting it rebuilds the operations."""
        return self._strength

    @strength.setter
    def strength(self, value: float) -> None:
        value = _check_strength(value)
        self.policies = [[scale_policy(op, value) for op in sub] for sub in self.full_policies]
        self.transforms = [
            Compose([MMPRETRAIN_TRANSFORMS.build(op) for op in sub]) for sub in self.policies
        ]
        self._strength = value

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(strength={self._strength}, ' \
               f'{len(self.policies)} sub-policies)'
