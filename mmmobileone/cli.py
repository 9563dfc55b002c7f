"""Command-line to config logic shared by ``tools/train.py`` and ``tools/test.py``.

The tools serve mmpretrain, mmdet and mmseg configs alike: the config's ``default_scope`` says
which library builds the model, datasets and metrics; the Runner is mmengine's.

``run_train`` / ``run_test`` raise on errors (for use from Python); ``main_train`` /
``main_test`` are the command-line entry points: a user error found before the Runner starts
(missing config, dataset or checkpoint, a corrupt checkpoint, a fused checkpoint for a
train-time config, a bad flag) is logged as one line and turns into exit status 1.
"""
import argparse
import logging
import os
import os.path as osp
from typing import Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

from .utils import check_dataset_paths, checkpoint_is_fused, load_checkpoint_file

logger = logging.getLogger(__name__)
LAUNCHERS = ['none', 'pytorch', 'slurm', 'mpi']
#: Exit status of the tools for a user error (bad path, checkpoint or flag).
EXIT_USER_ERROR = 1
WORKFLOW_DOCS = 'docs/workflow.md'


def load_config(path: str) -> Config:
    """Read a config file, with a clear error when it is missing."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path!r} not found (working directory '
                                f'{os.getcwd()!r}); the shipped configs are in configs/')
    return Config.fromfile(path)


def _common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='directory for logs and checkpoints '
                        '(default: ./work_dirs/CONFIG_NAME)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries, e.g. model.backbone.deploy=True '
                        'train_dataloader.batch_size=8')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='job launcher for distributed runs')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help='set by torch.distributed.launch; torchrun uses LOCAL_RANK')


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Train a MobileOne classifier, detector or '
                                     'segmentor from an mmpretrain / mmdet / mmseg config')
    parser.add_argument('config', help='config file')
    _common_args(parser)
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CHECKPOINT, or from the latest checkpoint in the '
                        'work dir when no path is given')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by (total batch size / auto_scale_lr.base_batch_size)')
    return parser


def test_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Test a checkpoint and print the task metrics '
                                     '(top-1/top-5, COCO bbox mAP or mIoU)')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (training or deployed)')
    _common_args(parser)
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument('--show-dir', help='draw predictions into this folder '
                        '(relative to the working directory unless absolute)')
    parser.add_argument('--no-fuse', action='store_true',
                        help='test the train-time (unfused) network instead of the fused one')
    return parser


def _set_work_dir(cfg: Config, args: argparse.Namespace) -> None:
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif not cfg.get('work_dir'):
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])


def _set_launcher(cfg: Config, args: argparse.Namespace) -> None:
    cfg.launcher = args.launcher
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.launcher != 'none':
        _prepare_cpu_distributed(cfg, args.launcher)


def _prepare_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Make a distributed run work without CUDA (gloo backend, DDP without device ids).

    mmengine assumes one GPU per process: it calls ``torch.cuda.set_device`` while setting up
    the process group and gives DDP ``device_ids=[LOCAL_RANK]``, both of which fail on CPU.
    Without CUDA we switch an ``nccl`` backend to ``gloo``, create the process group ourselves
    (torchrun's environment) and wrap the model with ``device_ids=None``. DDP refuses
    SyncBatchNorm on CPU, so SyncBN layer configs become BN, as mmengine does for
    single-process runs.
    """
    import torch
    if torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        logger.info('no CUDA device: distributed run with the gloo backend')
        dist_cfg['backend'] = 'gloo'
    reverted = _revert_syncbn_cfg(cfg.model)
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
                import datetime
                options['timeout'] = datetime.timedelta(seconds=options['timeout'])
            dist.init_process_group(backend=dist_cfg['backend'], **options)


SYNCBN_TYPES = ('SyncBN', 'MMSyncBN')


def _revert_syncbn_cfg(node) -> int:
    """Replace SyncBN norm configs by BN in place; returns how many were replaced."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') in SYNCBN_TYPES:
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += _revert_syncbn_cfg(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _revert_syncbn_cfg(value)
    return count


def _check_checkpoint_form(cfg: Config, path: str, what: str) -> None:
    """Refuse a checkpoint whose form (fused or train-time) does not fit the config's model.

    Remote checkpoints (``https://``, ``s3://``, ...) are left to mmengine's loader.
    """
    if '://' in str(path):
        return
    checkpoint = load_checkpoint_file(path)
    backbone = cfg.model.get('backbone', None) or {}
    deploy = bool(backbone.get('deploy', False))
    state_dict = checkpoint.get('state_dict', checkpoint)
    if checkpoint_is_fused(checkpoint) and not deploy:
        raise ValueError(
            f'{what} {path!r} is a fused (deployed) checkpoint but the config builds the '
            'train-time network: add --cfg-options model.backbone.deploy=True, or use the '
            'training checkpoint instead')
    if deploy and any(k.endswith('branch_conv_list.0.conv.weight') for k in state_dict):
        raise ValueError(
            f'{what} {path!r} is a train-time (unfused) checkpoint but the config builds the '
            'fused network (model.backbone.deploy=True): drop deploy=True, or convert it with '
            'tools/model_converters/reparameterize.py')


def merge_train_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply ``tools/train.py`` arguments to ``cfg`` (in place) and return it."""
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    _set_launcher(cfg, args)
    _set_work_dir(cfg, args)
    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            logger.warning('AMP is already enabled in the config')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError(f'--auto-scale-lr needs auto_scale_lr.base_batch_size in the '
                             f'config {args.config!r}')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        _check_checkpoint_form(cfg, args.resume, '--resume checkpoint')
        cfg.resume = True
        cfg.load_from = args.resume
    elif cfg.get('load_from'):
        _check_checkpoint_form(cfg, cfg.load_from, 'load_from checkpoint')
    return cfg


def _reparam_hooks(cfg: Config):
    return [h for h in cfg.get('custom_hooks', []) if str(h.get('type', '')).endswith(
        'ReparamHook')]


def _enable_visualization(cfg: Config, show_dir: str) -> None:
    """Switch on the library's visualization hook so that every prediction is drawn."""
    hooks = cfg.get('default_hooks', {})
    if 'visualization' not in hooks:
        raise ValueError('--show-dir needs default_hooks.visualization in the config')
    hook = hooks.visualization
    scope = cfg.get('default_scope', '')
    show_dir = osp.abspath(show_dir)  # the libraries disagree on what a relative path means
    if scope == 'mmpretrain':
        hook.enable = True
        hook.out_dir = show_dir
        hook.interval = 1
    else:  # mmdet's DetVisualizationHook and mmseg's SegVisualizationHook
        hook.draw = True
        hook.test_out_dir = show_dir
        hook.interval = 1


def merge_test_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply ``tools/test.py`` arguments to ``cfg`` (in place) and return it.

    Checks the checkpoint first: a missing, truncated or corrupt file, or a checkpoint whose
    form (fused or train-time) does not fit the config, fails here with a message that says
    what to do. Without ``--no-fuse`` the network is fused before inference, also for a config
    without ReparamHook (one is added).
    """
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    _set_launcher(cfg, args)
    _set_work_dir(cfg, args)
    _check_checkpoint_form(cfg, args.checkpoint, 'checkpoint')
    cfg.load_from = args.checkpoint
    cfg.resume = False
    hooks = _reparam_hooks(cfg)
    if args.no_fuse:
        for hook in hooks:
            hook.fuse_test = False
    elif not hooks:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='mmmobileone.ReparamHook', fuse_val=False, save_deploy=False)]
    if args.show_dir:
        _enable_visualization(cfg, args.show_dir)
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl or .pickle file, got {args.out!r}')
        cfg.test_evaluator = list(cfg.test_evaluator) if isinstance(
            cfg.test_evaluator, (list, tuple)) else [cfg.test_evaluator]
        cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=args.out))
    return cfg


def build_runner(cfg: Config):
    """Build mmengine's Runner (or the config's ``runner_type``)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def prepare_train(argv: Optional[Sequence[str]] = None) -> Config:
    """Parse ``tools/train.py`` arguments into a checked config (no Runner yet)."""
    import mmmobileone  # noqa: F401  (registries, compatibility fixes)
    args = train_parser().parse_args(argv)
    cfg = merge_train_args(load_config(args.config), args)
    check_dataset_paths(cfg, ('train', 'val') if cfg.get('val_cfg') else ('train', ))
    return cfg


def run_train(argv: Optional[Sequence[str]] = None):
    """Train as ``tools/train.py`` does; returns the Runner after training (raises on errors)."""
    runner = build_runner(prepare_train(argv))
    runner.train()
    return runner


def format_metrics(metrics: dict) -> str:
    """One metric per line, floats with 4 decimals."""
    return '\n'.join(f'  {name}: {value:.4f}' if isinstance(value, float) else
                     f'  {name}: {value}' for name, value in metrics.items())


def prepare_test(argv: Optional[Sequence[str]] = None) -> Tuple[Config, argparse.Namespace]:
    """Parse ``tools/test.py`` arguments into a checked config (no Runner yet)."""
    import mmmobileone  # noqa: F401  (registries, compatibility fixes)
    args = test_parser().parse_args(argv)
    cfg = merge_test_args(load_config(args.config), args)
    check_dataset_paths(cfg, ('test', ))
    return cfg, args


def run_test(argv: Optional[Sequence[str]] = None) -> dict:
    """Test as ``tools/test.py`` does; returns the metrics dict (raises on errors)."""
    return _test(*prepare_test(argv))


def _test(cfg: Config, args: argparse.Namespace) -> dict:
    runner = build_runner(cfg)
    metrics = runner.test()
    runner.logger.info(f'Test metrics of {args.checkpoint} '
                       f"({'unfused' if args.no_fuse else 'fused'} model):\n"
                       f'{format_metrics(metrics)}')
    return metrics


def setup_cli_logging() -> None:
    """Log this package's messages as ``TIME - mmmobileone - LEVEL - message`` on stderr."""
    package_logger = logging.getLogger('mmmobileone')
    if not package_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter('%(asctime)s - mmmobileone - %(levelname)s - '
                                               '%(message)s'))
        package_logger.addHandler(handler)
        package_logger.setLevel(logging.INFO)


def report_user_error(error: Exception) -> int:
    """Log ``error`` as one line (with a pointer to the docs); return :data:`EXIT_USER_ERROR`."""
    message = ' '.join(str(error).split())
    hint = '' if WORKFLOW_DOCS in message else f' (see {WORKFLOW_DOCS})'
    logger.error(f'{message}{hint}')
    return EXIT_USER_ERROR


def main_train(argv: Optional[Sequence[str]] = None) -> int:
    """``tools/train.py``: returns the exit status (1 for a user error, logged as one line)."""
    setup_cli_logging()
    try:
        cfg = prepare_train(argv)
    except (FileNotFoundError, ValueError) as error:
        return report_user_error(error)
    build_runner(cfg).train()
    return 0


def main_test(argv: Optional[Sequence[str]] = None) -> int:
    """``tools/test.py``: returns the exit status (1 for a user error, logged as one line)."""
    setup_cli_logging()
    try:
        cfg, args = prepare_test(argv)
    except (FileNotFoundError, ValueError) as error:
        return report_user_error(error)
    _test(cfg, args)
    return 0
