"""INT8 robustness over many trained checkpoints: worst / median / best change against float.

Usage::

    python tools/deployment/int8_study.py CONFIG CKPT [CKPT ...] --out-dir DIR \\
        [--data-roots ROOT ...] [--calib-dir IMAGES] [--methods default no-absorb ...] \\
        [--backends executorch onnx] [--calib-images 32] [--limit N] [--resume] \\
        [--measure-isa default avx2] [--cfg-options KEY=VALUE ...]

    # classifiers it trains itself: synthetic ImageNet-folder data + tools/train.py per seed
    # and CPU path, then the same study of their fused checkpoints (deploy.pth)
    python tools/deployment/int8_study.py configs/quickstart/mobileone_s0_synthetic.py \\
        --train-seeds 0 1 2 [--train-isa default avx2] [--train-dir DIR/train] --out-dir DIR \\
        [--measure-isa default avx2] [--train-options KEY=VALUE ...]

Every checkpoint is quantized with every method on every runtime and scored through the
runtime on the config's test set (detectors: mAP@0.5 from mmdet's decoding, NMS and
CocoMetric; classifiers: top-1 agreement with float, and top-1 accuracy). Prints and writes
DIR/int8_study.md (the worst / median / best table, then one row per checkpoint) and
DIR/int8_study.json (rewritten after every checkpoint; ``--resume`` keeps what it holds); with
several ``--measure-isa`` paths, one DIR/measured_ISA/ each. ``--train-seeds`` trains one
classifier per seed and ``--train-isa`` path into ``--train-dir`` (``ISA_seedS/deploy.pth``, its
data in ``data/ISA_seedS``; a run whose deploy.pth exists is kept) and writes
DIR/train.md/.json; the study builds the model with those ``--train-options`` too (with
``--cfg-options`` on top), so an option that changes the network or the test pipeline (e.g.
``model.backbone.quant_friendly=True``) is studied as it was trained. Details:
docs/deployment.md, section 5 (INT8 quantization).
"""
import argparse
import contextlib
import glob
import json
import logging
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, Iterator, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmmobileone.analysis.machine import ISA_ENV  # noqa: E402
from mmmobileone.apis.model import load_config  # noqa: E402
from mmmobileone.datasets.synthetic import generate_imagenet  # noqa: E402
from mmmobileone.deploy.int8.quantize import INT8_BACKENDS  # noqa: E402
from mmmobileone.deploy.int8.study import METHODS, data_root_options, int8_study  # noqa: E402
from mmmobileone.errors import ConfigError, MMMobileOneError  # noqa: E402
from tools.analysis.quickstart_spread import ISA_ENVIRONMENTS  # noqa: E402
from tools.common import add_cfg_options, add_debug_flag, run_tool, setup_logging  # noqa: E402

logger = logging.getLogger('mmmobileone.int8_study')

#: The trained classifiers' synthetic data: the recipe of
#: configs/quickstart/mobileone_s0_synthetic.py (8 classes, 48 training images each, 96 px),
#: with 32 validation images per class (256) so that a 95% agreement is resolvable.
CLASSIFIER_DATA = dict(classes=8, train_per_class=48, val_per_class=32, image_size=96)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='INT8 accuracy over many trained checkpoints: worst / median / best '
        'change against float per method and runtime')
    parser.add_argument('config', help='the config every checkpoint was trained with')
    parser.add_argument('checkpoints', nargs='*', metavar='CHECKPOINT')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--data-roots', nargs='+', metavar='ROOT',
                        help='data root of each checkpoint (or one for all): the config\'s '
                        'datasets and annotation files are pointed there')
    parser.add_argument('--calib-dir', help="default: each checkpoint's training image folder")
    parser.add_argument('--calib-images', type=int, default=32)
    parser.add_argument('--methods', nargs='+', default=['default', 'no-absorb'],
                        choices=list(METHODS), help='INT8 methods to compare (' + '; '.join(
                            f'{k}: {v.description}' for k, v in METHODS.items()) + ')')
    parser.add_argument('--backends', nargs='+', default=list(INT8_BACKENDS),
                        choices=list(INT8_BACKENDS))
    parser.add_argument('--limit', type=int, help='first N test images only')
    parser.add_argument('--resume', action='store_true',
                        help='keep the checkpoints already in DIR/int8_study.json')
    parser.add_argument('--measure-isa', nargs='+', choices=list(ISA_ENVIRONMENTS),
                        help='CPU path(s) to quantize and measure on (each checkpoint in a '
                        'fresh process with that path\'s environment; default: this '
                        "process's)")
    add_cfg_options(parser, 'model.backbone.quant_friendly=True')
    train = parser.add_argument_group(
        'training classifiers first (synthetic ImageNet-folder data, tools/train.py)')
    train.add_argument('--train-seeds', type=int, nargs='+', metavar='SEED',
                       help='train one classifier per seed (data and training seed) and CPU '
                       'path, and study those (after any CHECKPOINTs)')
    train.add_argument('--train-isa', nargs='+', default=['default'],
                       choices=list(ISA_ENVIRONMENTS), help='CPU path(s) to train on')
    train.add_argument('--train-dir', help='default: OUT_DIR/train')
    train.add_argument('--train-threads', type=int, default=1)
    train.add_argument('--train-data', nargs='+', default=[], metavar='KEY=INT',
                       help='generate_imagenet arguments instead of '
                       + ', '.join(f'{k}={v}' for k, v in CLASSIFIER_DATA.items()))
    train.add_argument('--train-options', nargs='+', default=[], metavar='KEY=VALUE',
                       help='--cfg-options for tools/train.py (the study applies them too)')
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if not args.checkpoints and not args.train_seeds:
        parser.error('give CHECKPOINTs, --train-seeds, or both')
    return args


def _environment(isa: str, threads: int) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ISA_ENV}
    env.update(ISA_ENVIRONMENTS[isa], OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    return env


@contextlib.contextmanager
def _isa_environment(isa: str) -> Iterator[None]:
    """This process's environment set to CPU path ``isa`` (for the processes it starts)."""
    saved = {k: os.environ.get(k) for k in ISA_ENV}
    for key in ISA_ENV:
        os.environ.pop(key, None)
    os.environ.update(ISA_ENVIRONMENTS[isa])
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def last_val_top1(work_dir: str) -> Optional[float]:
    """The last ``accuracy/top1`` (a fraction) that the run in ``work_dir`` logged."""
    found = None
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'accuracy/top1' in record:
                    found = record['accuracy/top1'] / 100
    return found


def train_classifier(config: str, train_dir: str, seed: int, isa: str, threads: int = 1,
                     data: Optional[Dict[str, int]] = None,
                     options: Sequence[str] = ()) -> Dict:
    """Generate ``ISA_seedSEED``'s data and train it with tools/train.py (a subprocess with that
    CPU path's environment), unless its deploy.pth exists.

    Returns:
        ``dict(name, seed, isa, threads, checkpoint, data_root, train_minutes, val_top1)``
        (also written as ``int8_train.json`` in the run's folder).
    """
    name = f'{isa}_seed{seed}'
    work_dir, data_root = osp.join(train_dir, name), osp.join(train_dir, 'data', name)
    checkpoint = osp.join(work_dir, 'deploy.pth')
    record_file = osp.join(work_dir, 'int8_train.json')
    if osp.isfile(checkpoint) and osp.isfile(record_file):
        logger.info('%s: trained before (%s), kept', name, checkpoint)
        with open(record_file) as f:
            return json.load(f)
    generate_imagenet(data_root, meta=False, seed=seed, overwrite=True,
                      **dict(CLASSIFIER_DATA, **(data or {})))
    roots = data_root_options(load_config(config), data_root)
    cfg_options = [f'{k}={v}' for k, v in roots.items()]
    command = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir',
               work_dir, '--cfg-options', f'randomness.seed={seed}', *cfg_options, *options]
    os.makedirs(work_dir, exist_ok=True)
    start = time.time()
    with open(osp.join(work_dir, 'train_stdout.log'), 'w') as log:
        code = subprocess.run(command, env=_environment(isa, threads), stdout=log,
                              stderr=subprocess.STDOUT).returncode
    if code or not osp.isfile(checkpoint):
        raise MMMobileOneError(f'training {name} failed (exit {code}): see {log.name}')
    record = dict(name=name, seed=seed, isa=isa, threads=threads, checkpoint=checkpoint,
                  data_root=data_root, train_minutes=(time.time() - start) / 60,
                  val_top1=last_val_top1(work_dir))
    with open(record_file, 'w') as f:
        json.dump(record, f, indent=1)
    logger.info('%s: trained in %.1f min, fused val top-1 %.3f', name, record['train_minutes'],
                record['val_top1'] or float('nan'))
    return record


def format_training(runs: Sequence[Dict]) -> str:
    lines = ['| classifier | CPU path | seed | threads | training (min) | fused val top-1 |',
             '|---|---|---:|---:|---:|---:|']
    for r in runs:
        top1 = '' if r['val_top1'] is None else f'{r["val_top1"]:.3f}'
        lines.append(f'| {r["name"]} | {r["isa"]} | {r["seed"]} | {r["threads"]} | '
                     f'{r["train_minutes"]:.1f} | {top1} |')
    return '\n'.join(lines) + '\n'


def parse_options(pairs: Sequence[str]) -> Dict:
    """``KEY=VALUE`` strings as mmengine's ``DictAction`` parses ``--cfg-options``."""
    parser = argparse.ArgumentParser()
    add_cfg_options(parser, '')
    return dict(parser.parse_args(['--cfg-options', *pairs]).cfg_options) if pairs else {}


def _train_data(pairs: Sequence[str]) -> Dict[str, int]:
    data = {}
    for pair in pairs:
        key, _, value = pair.partition('=')
        if key not in CLASSIFIER_DATA or not value.isdigit():
            raise ConfigError(f'--train-data {pair!r}: expected KEY=INT with KEY one of '
                              f'{", ".join(CLASSIFIER_DATA)}')
        data[key] = int(value)
    return data


def study(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    args = parse_args(argv)
    checkpoints, data_roots = list(args.checkpoints), list(args.data_roots or [])
    cfg_options = dict(args.cfg_options)
    if args.train_seeds:
        if checkpoints and len(data_roots) not in (0, len(checkpoints)):
            raise ConfigError('with --train-seeds, give one --data-roots entry per CHECKPOINT')
        train_dir = args.train_dir or osp.join(args.out_dir, 'train')
        runs = [train_classifier(args.config, train_dir, seed, isa, args.train_threads,
                                 _train_data(args.train_data), args.train_options)
                for isa in args.train_isa for seed in args.train_seeds]
        os.makedirs(args.out_dir, exist_ok=True)
        with open(osp.join(args.out_dir, 'train.json'), 'w') as f:
            json.dump(runs, f, indent=1)
        text = format_training(runs)
        with open(osp.join(args.out_dir, 'train.md'), 'w') as f:
            f.write(text)
        print(text)
        if checkpoints and not data_roots:  # the given checkpoints use the config's data
            data_roots = [load_config(args.config).test_dataloader.dataset.data_root] * len(
                checkpoints)
        checkpoints += [r['checkpoint'] for r in runs]
        data_roots += [r['data_root'] for r in runs]
        cfg_options = dict(parse_options(args.train_options), **cfg_options)
    studies = []
    for isa in args.measure_isa or [None]:
        out_dir = args.out_dir if len(args.measure_isa or []) < 2 else osp.join(
            args.out_dir, f'measured_{isa}')
        with _isa_environment(isa) if isa else contextlib.nullcontext():
            studies.append(int8_study(
                args.config, checkpoints, out_dir, methods=args.methods,
                backends=args.backends, data_roots=data_roots or None,
                calib_dir=args.calib_dir, calib_images=args.calib_images, limit=args.limit,
                resume=args.resume, worker_init=setup_logging, cfg_options=cfg_options or None))
        with open(osp.join(out_dir, 'int8_study.md')) as f:
            print(f.read())
    return studies


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(study, argv, docs='docs/deployment.md')


if __name__ == '__main__':
    sys.exit(main())
