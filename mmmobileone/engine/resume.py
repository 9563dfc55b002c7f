"""Resuming and loading checkpoints where mmengine lacks the behaviour (docs/workflow.md,
"What survives what").

mmengine's ``resume=True`` takes the file ``last_checkpoint`` names, or fails on it; it does not
check that a checkpoint fits the model (fused vs train-time), nor fall back to an older readable
checkpoint, nor keep the run's seed when the config has none. The functions here do, for
``tools/train.py --resume`` and ``tools/test.py``:

* :func:`check_load_from`: a ``load_from`` / test checkpoint must be readable and fit the model;
* :func:`resume_from_checkpoint`: ``--resume CHECKPOINT`` (checked; the checkpoint's seed when
  the config has none);
* :func:`auto_resume`: ``--resume`` without a path: the newest *readable* checkpoint of the work
  dir, a clear error when none is readable, training from scratch when there is none;
* :func:`resume_caveats`, :func:`warn_resume_caveats`: why a resumed run of a config would not
  repeat the uninterrupted one bit for bit.
"""
import logging
import os
import os.path as osp
import re
from typing import Dict, List, Optional

from mmengine.config import Config

from ..errors import CheckpointError, MissingPathError
from ..fileio import load_checkpoint
from ..models.reparam import check_checkpoint_form

logger = logging.getLogger(__name__)

#: Checkpoint files that ``--resume`` considers, newest first: ``epoch_N.pth``, ``iter_N.pth``.
RESUMABLE = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def check_load_from(cfg: Config, path: str, what: str) -> None:
    """Refuse a checkpoint that is unreadable or whose form does not fit the config's model.

    Remote checkpoints (``https://``, ``s3://``, ...) are left to mmengine's loader.

    Raises:
        MissingPathError, CheckpointError: the file is missing or corrupt, or it is fused while the
            config builds the train-time network (or the reverse).
    """
    if '://' in str(path):
        return
    backbone = cfg.model.get('backbone', None) or {}
    check_checkpoint_form(load_checkpoint(path), bool(backbone.get('deploy', False)),
                          f'{what} {path!r}')


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
        CheckpointError: the work dir has checkpoints (or a ``last_checkpoint``) but none is
            readable: starting again from scratch would silently throw the run away.
    """
    work_dir = cfg.work_dir
    candidates = _resumable_checkpoints(work_dir)
    problems = []
    for path in candidates:
        try:
            resume_from_checkpoint(cfg, path)
        except (MissingPathError, CheckpointError) as error:
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
        raise CheckpointError(f'--resume: no readable checkpoint in {work_dir!r} ({detail}); '
                              'remove the work dir, or pass --resume CHECKPOINT, to start again')
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
