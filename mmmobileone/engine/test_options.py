"""What the flags of ``tools/test.py`` ask of a config: fused or unfused testing
(``--no-fuse``), drawn predictions (``--show-dir``), dumped predictions (``--out``); and how the
metrics are printed."""
import os.path as osp
from typing import Dict, List

from mmengine.config import Config

from ..errors import ConfigError


def _reparam_hooks(cfg: Config) -> List[Dict]:
    return [h for h in cfg.get('custom_hooks', [])
            if str(h.get('type', '')).split('.')[-1] == 'ReparamHook']


def set_fused_testing(cfg: Config, fuse: bool = True) -> None:
    """Test the fused network (adding a ReparamHook if the config has none), or the unfused."""
    hooks = _reparam_hooks(cfg)
    if not fuse:
        for hook in hooks:
            hook.fuse_test = False
    elif not hooks:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='mmmobileone.ReparamHook', fuse_val=False, save_deploy=False)]


def enable_visualization(cfg: Config, show_dir: str) -> None:
    """Switch on the library's visualization hook so that every test prediction is drawn."""
    hooks = cfg.get('default_hooks', {})
    if 'visualization' not in hooks:
        raise ConfigError('--show-dir needs default_hooks.visualization in the config')
    hook = hooks.visualization
    show_dir = osp.abspath(show_dir)  # the libraries disagree on what a relative path means
    if cfg.get('default_scope', '') == 'mmpretrain':
        hook.enable = True
        hook.out_dir = show_dir
    else:  # mmdet's DetVisualizationHook and mmseg's SegVisualizationHook
        hook.draw = True
        hook.test_out_dir = show_dir
    hook.interval = 1


def dump_predictions(cfg: Config, out_file: str) -> None:
    """Also write the raw test predictions to ``out_file`` (a ``.pkl``)."""
    if not out_file.endswith(('.pkl', '.pickle')):
        raise ConfigError(f'--out must be a .pkl or .pickle file, got {out_file!r}')
    evaluators = cfg.test_evaluator
    cfg.test_evaluator = list(evaluators) if isinstance(evaluators, (list, tuple)) else [
        evaluators]
    cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=out_file))


def format_metrics(metrics: Dict) -> str:
    """One metric per line, floats with 4 decimals."""
    return '\n'.join(f'  {name}: {value:.4f}' if isinstance(value, float) else
                     f'  {name}: {value}' for name, value in metrics.items())
