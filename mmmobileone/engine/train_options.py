"""What the ``--amp`` and ``--auto-scale-lr`` flags of ``tools/train.py`` ask of a config."""
import logging

from mmengine.config import Config

from ..errors import ConfigError

logger = logging.getLogger(__name__)


def enable_amp(cfg: Config) -> None:
    """Train with automatic mixed precision (``AmpOptimWrapper``, dynamic loss scale)."""
    if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
        logger.warning('AMP is already enabled in the config')
        return
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def enable_auto_scale_lr(cfg: Config) -> None:
    """Scale the lr by total batch / ``auto_scale_lr.base_batch_size`` (mmengine does it)."""
    if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
        raise ConfigError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
    cfg.auto_scale_lr.enable = True
