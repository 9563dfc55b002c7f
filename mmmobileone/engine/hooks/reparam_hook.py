"""Evaluate and ship the fused network: the re-parameterization hook."""
import os.path as osp
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import EMAHook, Hook
from mmengine.model import is_model_wrapper
from torch import nn

from ...errors import ConfigError
from ...fileio import save_checkpoint_atomic
from ...models.reparam import fused_checkpoint, needs_fusion, reparameterize_model
from ...registry import HOOKS


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class ReparamHook(Hook):
    """Validate and test the fused (deployed) network; write a deployed checkpoint.

    * Before each validation (and test) epoch, the model that the loop would run is replaced by
      a fused deep copy (:func:`~mmmobileone.reparameterize_model`), unwrapped from DDP, which
      inference does not need. With ``EMAHook`` active the copy is taken after EMAHook has
      swapped its averaged weights in: this hook's priority (``LOW``) is below EMAHook's
      (``NORMAL``), and :meth:`before_run` refuses a hook order where it is not. After the epoch
      the original model comes back; its weights, the optimizer state and the EMA state are
      never modified.
    * After training, ``deploy_filename`` in the work dir receives the fused state dict of the
      model that validation uses (the EMA weights when EMAHook is active), with the dataset
      meta. It loads into the same config with ``model.backbone.deploy=True``. Only the main
      process writes it.

    Args:
        fuse_val: Validate the fused network during training.
        fuse_test: Test the fused network (``tools/test.py --no-fuse`` turns it off).
        save_deploy: Write the deployed checkpoint at the end of training.
        deploy_filename: File name of that checkpoint, relative to the work dir.

    Example:
        >>> custom_hooks = [
        ...     dict(type='EMAHook', momentum=5e-4, priority='ABOVE_NORMAL'),
        ...     dict(type='mmmobileone.ReparamHook'),
        ... ]
    """

    priority = 'LOW'

    def __init__(self,
                 fuse_val: bool = True,
                 fuse_test: bool = True,
                 save_deploy: bool = True,
                 deploy_filename: str = 'deploy.pth') -> None:
        if not isinstance(deploy_filename, str) or not deploy_filename.strip():
            raise ConfigError(f'deploy_filename must be a non-empty file name, got '
                              f'{deploy_filename!r}')
        self.fuse_val = fuse_val
        self.fuse_test = fuse_test
        self.save_deploy = save_deploy
        self.deploy_filename = deploy_filename
        self._original: Optional[nn.Module] = None

    def before_run(self, runner) -> None:
        """Check that every EMAHook runs before this hook (and can be evaluated fused)."""
        hooks = list(runner.hooks)
        position = next((i for i, hook in enumerate(hooks) if hook is self), len(hooks))
        for i, hook in enumerate(hooks):
            if not isinstance(hook, EMAHook):
                continue
            if i > position:
                raise ConfigError(
                    f'ReparamHook (priority {self.priority!r}) runs before '
                    f'{type(hook).__name__} (priority {hook.priority!r}), so validation would '
                    'fuse the raw weights instead of the EMA weights: give ReparamHook a lower '
                    "priority than EMAHook (defaults: EMAHook 'NORMAL', ReparamHook 'LOW')")
            if getattr(hook, 'evaluate_on_ema', True) and getattr(hook, 'evaluate_on_origin',
                                                                  False):
                raise ConfigError(
                    'mmpretrain EMAHook(evaluate_on_origin=True) re-runs validation on '
                    'runner.model inside its after_val_epoch, where ReparamHook has put the '
                    'fused EMA model; set evaluate_on_origin=False (or fuse_val=False)')

    def _swap_in(self, runner, stage: str) -> None:
        model = _unwrap(runner.model)
        if not needs_fusion(model):
            runner.logger.info(f'ReparamHook: the model is already fused; {stage} runs as is')
            return
        self._original = runner.model
        runner.model = reparameterize_model(model)
        runner.logger.info(f'ReparamHook: {stage} runs on the fused (re-parameterized) model')

    def _swap_out(self, runner) -> None:
        if self._original is not None:
            runner.model = self._original
            self._original = None

    def before_val_epoch(self, runner) -> None:
        if self.fuse_val:
            self._swap_in(runner, 'validation')

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        self._swap_out(runner)

    def before_test_epoch(self, runner) -> None:
        if self.fuse_test:
            self._swap_in(runner, 'test')

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        self._swap_out(runner)

    @staticmethod
    def shipped_model(runner) -> nn.Module:
        """The model validation uses: EMAHook's averaged model if one is active, else the model."""
        for hook in runner.hooks:
            if isinstance(hook, EMAHook) and hasattr(hook, 'ema_model') and getattr(
                    hook, 'evaluate_on_ema', True):
                return hook.ema_model.module
        return _unwrap(runner.model)

    def after_train(self, runner) -> None:
        if not self.save_deploy or not is_main_process():
            return
        shipped = self.shipped_model(runner)
        fused = reparameterize_model(shipped)
        dataset_meta = getattr(_unwrap(runner.model), 'dataset_meta', None)
        if dataset_meta is None:
            dataset_meta = getattr(runner.train_dataloader.dataset, 'metainfo', None)
        meta = dict(epoch=runner.epoch, iter=runner.iter, cfg=runner.cfg.pretty_text,
                    weights='ema' if shipped is not _unwrap(runner.model) else 'model')
        if dataset_meta is not None:
            meta['dataset_meta'] = dict(dataset_meta)
        path = osp.join(runner.work_dir, self.deploy_filename)
        save_checkpoint_atomic(fused_checkpoint(fused, meta), path)
        runner.logger.info(f'ReparamHook: deployed (fused) checkpoint of the {meta["weights"]} '
                           f'weights written to {path}; load it with model.backbone.deploy=True')
