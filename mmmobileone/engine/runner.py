"""Config preparation for mmengine's Runner, shared by ``tools/train.py`` and ``tools/test.py``.

The tools own the command line (argument parsing, logging, exit codes); this module holds the
config edits they make, as importable functions that raise on bad input:

* :func:`prepare_distributed`: distributed runs without CUDA (gloo, DDP without device ids,
  SyncBN to BN);
* :func:`enable_amp`, :func:`enable_auto_scale_lr`: the ``--amp`` / ``--auto-scale-lr`` flags;
* :func:`check_load_from`: a ``load_from`` / ``--resume`` checkpoint must fit the model;
* :func:`set_fused_testing`, :func:`enable_visualization`, :func:`dump_predictions`: what
  ``tools/test.py`` runs and writes;
* :func:`build_runner`, :func:`format_metrics`;
* :func:`add_training_safeguards`, :func:`auto_resume`, :func:`resume_from_checkpoint`,
  :func:`resume_caveats`: what survives a crash, a full disk or divergence (docs/workflow.md,
  "What survives what").
"""
import datetime
import logging
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Union

from mmengine.config import Config

from ..fileio import load_checkpoint
from ..models.reparam import check_checkpoint_form

logger = logging.getLogger(__name__)

#: Norm layer types that PyTorch's DDP refuses on CPU.
SYNCBN_TYPES = ('SyncBN', 'MMSyncBN')


def revert_syncbn_cfg(node: Union[Dict, List]) -> int:
    """Replace SyncBN norm configs by BN in place; returns how many were replaced."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') in SYNCBN_TYPES:
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += revert_syncbn_cfg(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += revert_syncbn_cfg(value)
    return count


def prepare_distributed(cfg: Config, launcher: str) -> None:
    """Make a distributed run work without CUDA (gloo backend, DDP without device ids).

    mmengine assumes one GPU per process: it calls ``torch.cuda.set_device`` while setting up
    the process group and gives DDP ``device_ids=[LOCAL_RANK]``, both of which fail on CPU.
    Without CUDA we switch an ``nccl`` backend to ``gloo``, create the process group ourselves
    (torchrun's environment) and wrap the model with ``device_ids=None``. DDP refuses
    SyncBatchNorm on CPU, so SyncBN layer configs become BN, as mmengine does for
    single-process runs. With CUDA, or ``launcher='none'``, nothing changes.
    """
    import torch
    if launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        logger.info('no CUDA device: distributed run with the gloo backend')
        dist_cfg['backend'] = 'gloo'
    reverted = revert_syncbn_cfg(cfg.model)
    if reverted or cfg.get('sync_bn'):
        logger.warning(f'no CUDA device: PyTorch DDP refuses SyncBatchNorm on CPU, so SyncBN '
                       f'becomes BN ({reverted} norm config(s) changed; per-process statistics)')
        cfg.sync_bn = None
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        broadcast_buffers=False, find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    if launcher == 'pytorch':
        import torch.distributed as dist
        if not dist.is_initialized():
            options = {k: v for k, v in dist_cfg.items() if k != 'backend'}
            if 'timeout' in options:
                options['timeout'] = datetime.timedelta(seconds=options['timeout'])
            dist.init_process_group(backend=dist_cfg['backend'], **options)


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
        raise ValueError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
    cfg.auto_scale_lr.enable = True


def check_load_from(cfg: Config, path: str, what: str) -> None:
    """Refuse a checkpoint that is unreadable or whose form does not fit the config's model.

    Remote checkpoints (``https://``, ``s3://``, ...) are left to mmengine's loader.

    Raises:
        FileNotFoundError, ValueError: the file is missing or corrupt, or it is fused while the
            config builds the train-time network (or the reverse).
    """
    if '://' in str(path):
        return
    backbone = cfg.model.get('backbone', None) or {}
    check_checkpoint_form(load_checkpoint(path), bool(backbone.get('deploy', False)),
                          f'{what} {path!r}')


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
        raise ValueError('--show-dir needs default_hooks.visualization in the config')
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
        raise ValueError(f'--out must be a .pkl or .pickle file, got {out_file!r}')
    evaluators = cfg.test_evaluator
    cfg.test_evaluator = list(evaluators) if isinstance(evaluators, (list, tuple)) else [
        evaluators]
    cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=out_file))


def build_runner(cfg: Config):
    """Build mmengine's Runner (or the config's ``runner_type``)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def format_metrics(metrics: Dict) -> str:
    """One metric per line, floats with 4 decimals."""
    return '\n'.join(f'  {name}: {value:.4f}' if isinstance(value, float) else
                     f'  {name}: {value}' for name, value in metrics.items())


#: Hooks that ``tools/train.py`` adds to every training run that lacks them.
SAFEGUARD_HOOKS = ('FiniteLossHook', 'EpochSeedHook')
#: Checkpoint files that ``--resume`` considers, newest first: ``epoch_N.pth``, ``iter_N.pth``.
RESUMABLE = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def _hook_name(hook: Dict) -> str:
    return str(hook.get('type', '')).split('.')[-1]


def add_training_safeguards(cfg: Config) -> None:
    """The hooks that make a run survive crashes, full disks and divergence (in place).

    * ``default_hooks.checkpoint`` of type ``CheckpointHook`` becomes
      ``mmmobileone.SafeCheckpointHook`` with the same arguments (atomic saves; old checkpoints
      removed only after the new one is written; no non-finite checkpoint);
    * ``mmmobileone.FiniteLossHook`` (stop at the first non-finite loss) and
      ``mmmobileone.EpochSeedHook`` (re-seed the main process every epoch, or every iteration
      of an iteration-based loop, so that a resumed run repeats the uninterrupted one) join
      ``custom_hooks`` unless already there.
    """
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint')
    if checkpoint is not None and str(checkpoint.get('type', 'CheckpointHook')).split('.')[-1] \
            == 'CheckpointHook':
        checkpoint['type'] = 'mmmobileone.SafeCheckpointHook'
    hooks = list(cfg.get('custom_hooks') or [])
    present = {_hook_name(h) for h in hooks}
    hooks += [dict(type=f'mmmobileone.{name}') for name in SAFEGUARD_HOOKS
              if name not in present]
    cfg.custom_hooks = hooks


#: Samplers that seed every sample from (seed, epoch, index): mmmobileone.datasets.samplers.
SEEDED_SAMPLERS = ('SeededSampler', 'SeededInfiniteSampler')


def resume_caveats(cfg: Config) -> List[str]:
    """Why resuming ``cfg`` would not repeat the uninterrupted run bitwise (empty: it would).

    The guarantee (tested on CPU, docs/workflow.md "What survives what") holds for a run with
    :class:`EpochSeedHook` resumed from its latest checkpoint when the data randomness does not
    live in the data workers: the train loader's sampler is ``mmmobileone.SeededSampler``
    (epoch-based) or ``mmmobileone.SeededInfiniteSampler`` (iteration-based), which seed every
    sample from (seed, epoch, index), or an epoch-based loader re-seeds its workers every epoch
    (``num_workers=0``, or ``persistent_workers=False``). The sampler needs the run's seed, which
    ``randomness.diff_rank_seed=True`` withholds from it.
    """
    caveats = []
    loader = cfg.get('train_dataloader') or {}
    sampler = str((loader.get('sampler') or {}).get('type', '')).split('.')[-1]
    seeded = sampler in SEEDED_SAMPLERS
    if not seeded and loader.get('num_workers', 0) and loader.get('persistent_workers', False):
        caveats.append('train_dataloader.persistent_workers=True keeps the data workers\' random '
                       'state across epochs, which no checkpoint holds (use '
                       "sampler=dict(type='mmmobileone.SeededSampler'), or set it to False)")
    train_cfg = cfg.get('train_cfg') or {}
    if not seeded and ('max_iters' in train_cfg or train_cfg.get('by_epoch') is False or
                       str(train_cfg.get('type', '')).startswith('IterBased')):
        caveats.append('iteration-based training resumes mid-stream, where the random state of '
                       'the data pipeline is not restored (use '
                       "sampler=dict(type='mmmobileone.SeededInfiniteSampler'))")
    if (cfg.get('randomness') or {}).get('diff_rank_seed', False):
        caveats.append('randomness.diff_rank_seed=True gives the train sampler a new random seed '
                       'in every run')
    return caveats


def _checkpoint_seed(checkpoint: Dict) -> Optional[int]:
    seed = (checkpoint.get('meta') or {}).get('seed')
    return int(seed) if isinstance(seed, int) else None


def resume_from_checkpoint(cfg: Config, path: str) -> None:
    """Resume from ``path`` (checked); a config without a seed takes the checkpoint's seed.

    mmengine builds the data sampler and the worker seeds before it reads the checkpoint, so
    with ``randomness.seed=None`` a resumed run would shuffle with a new random seed.
    """
    cfg.resume = True
    if '://' in str(path):  # remote: left to mmengine's loader
        cfg.load_from = path
        return
    checkpoint = load_checkpoint(path)
    backbone = cfg.model.get('backbone', None) or {}
    check_checkpoint_form(checkpoint, bool(backbone.get('deploy', False)),
                          f'--resume checkpoint {path!r}')
    cfg.load_from = path
    seed = _checkpoint_seed(checkpoint)
    randomness = dict(cfg.get('randomness') or {})
    if randomness.get('seed') is None and seed is not None:
        randomness['seed'] = seed
        # assigned, not edited in place: Config.setdefault would store a copy of a new dict
        cfg.randomness = randomness


def _resumable_checkpoints(work_dir: str) -> List[str]:
    """``last_checkpoint``'s file first (if it exists), then ``epoch_N`` / ``iter_N``, newest
    first."""
    found = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named and osp.isfile(named):
            found.append(named)
    if osp.isdir(work_dir):
        numbered = sorted((int(m.group(2)), name) for name in os.listdir(work_dir)
                          for m in [RESUMABLE.match(name)] if m)
        found += [osp.join(work_dir, name) for _, name in reversed(numbered)
                  if not any(osp.samefile(osp.join(work_dir, name), f) for f in found)]
    return found


def auto_resume(cfg: Config) -> Optional[str]:
    """``--resume`` without a path: the newest readable checkpoint of ``cfg.work_dir``.

    Candidates are the file ``last_checkpoint`` names, then ``epoch_N.pth`` / ``iter_N.pth``
    newest first. Each is read weights-only (:func:`load_checkpoint`); an unreadable one is
    skipped with a warning that says which file is used instead. An empty work dir is stated
    plainly (a warning) and training starts from scratch.

    Returns:
        The checkpoint resumed from, or ``None`` (nothing to resume).

    Raises:
        ValueError: the work dir has checkpoints (or a ``last_checkpoint``) but none is
            readable: starting again from scratch would silently throw the run away.
    """
    work_dir = cfg.work_dir
    candidates = _resumable_checkpoints(work_dir)
    problems = []
    for path in candidates:
        try:
            resume_from_checkpoint(cfg, path)
        except (FileNotFoundError, ValueError) as error:
            problems.append(' '.join(str(error).split()))
            logger.warning(f'--resume: skipping {path}: {problems[-1]}')
            continue
        if problems:
            logger.warning(f'--resume: the latest checkpoint is unreadable; resuming from the '
                           f'newest readable one, {path}')
        else:
            logger.info(f'--resume: resuming from {path}')
        return path
    if candidates or osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        detail = '; '.join(problems) or 'last_checkpoint names a file that does not exist'
        raise ValueError(f'--resume: no readable checkpoint in {work_dir!r} ({detail}); remove '
                         'the work dir, or pass --resume CHECKPOINT, to start again')
    logger.warning(f'--resume: nothing to resume in {work_dir!r} (no checkpoint yet): training '
                   'starts from scratch')
    cfg.resume = False
    cfg.load_from = None
    return None


def warn_resume_caveats(cfg: Config) -> None:
    """One warning line if resuming ``cfg`` would not repeat the uninterrupted run bitwise."""
    caveats = resume_caveats(cfg)
    if caveats:
        logger.warning(f'a resumed run of this config will not repeat an uninterrupted one '
                       f'exactly: {"; ".join(caveats)} (docs/workflow.md, "What survives what")')
