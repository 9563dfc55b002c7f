"""Refuse a ``Pretrained`` init that would leave tensors unloaded: ``PretrainedInitCheckHook``."""
import os.path as osp
from typing import Optional

from mmengine.hooks import Hook
from mmengine.runner import find_latest_checkpoint

from ...registry import HOOKS
from ..pretrained import check_pretrained_inits


@HOOKS.register_module()
class PretrainedInitCheckHook(Hook):
    """Check every ``Pretrained`` init of the model before the first training iteration.

    mmengine's ``PretrainedInit`` loads with ``strict=False`` and only logs missing keys, so a
    checkpoint of another architecture would start training from a partly random network. In
    ``before_train`` (after mmengine initialized the weights, before any iteration) this hook
    runs :func:`~mmmobileone.engine.pretrained.check_pretrained_inits` on the model, which
    compares each ``Pretrained`` checkpoint's tensors (prefix stripped) with the module's and
    raises :class:`~mmmobileone.engine.pretrained.IncompletePretrainedError` (one line) naming
    the unloaded ones. Nothing is checked when a checkpoint replaces the pretrained weights:
    ``load_from``, or ``resume=True`` with a checkpoint in the work dir. Declared in
    ``configs/_base_/runtime_safeguards.py``, so it applies whichever tool builds the Runner
    (``Runner.test`` / ``Runner.val`` do not train and are not checked).
    """

    priority = 'VERY_HIGH'

    @staticmethod
    def _replacing_checkpoint(runner) -> Optional[str]:
        cfg = runner.cfg
        load_from = cfg.get('load_from')
        if load_from:
            return str(load_from)
        if cfg.get('resume') and osp.isdir(str(runner.work_dir)):
            return find_latest_checkpoint(runner.work_dir)
        return None

    def before_train(self, runner) -> None:
        check_pretrained_inits(runner.model, load_from=self._replacing_checkpoint(runner))
