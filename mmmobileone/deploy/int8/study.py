"""INT8 robustness over many trained checkpoints: worst / median / best accuracy change.

One INT8 result on one trained network is an anecdote (issue 21): the same recipe trained with
another seed or on another CPU path can break where the first did not. :func:`int8_study`
quantizes every checkpoint of a list with every INT8 method of :data:`METHODS` on every runtime,
scores each model through its runtime on the config's test set exactly as
:mod:`.report` does (:mod:`.evaluate`: mmdet's decoding, NMS and CocoMetric for a detector,
top-1 agreement with float for a classifier) and summarises the change against float per
method and runtime by its worst, median and best checkpoint.

The float reference is the fused network in PyTorch on the same inputs (the float ONNX and
ExecuTorch exports give the same outputs to 1e-4, and ``tools/test.py``'s mAP on the fused
checkpoint, tested in ``tests/deploy/test_int8.py``). Each checkpoint runs in a fresh process
(ExecuTorch refuses to run programs after a few dozen others were loaded into one process;
tests/deploy/test_int8.py), and the results file is rewritten after each, so a long study can
be watched and resumed.
"""
import dataclasses
import json
import logging
import math
import os
import os.path as osp
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ...analysis.machine import cpu_capability
from ...apis.model import init_model, load_config
from ...errors import ConfigError, MissingPathError
from ..outputs import infer_task, output_names, tensor_model
from .absorb import absorb_constant_inputs, replace_dead_filters
from .calibration import calibration_inputs
from .evaluate import (agreement, classification_predictions, detection_metrics,
                       pipeline_input_shape, torch_runner)
from .quantize import check_int8_backend, export_int8, int8_ready
from .runtime import runtime_runner

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Method:
    """One way to quantize: the arguments of :func:`.quantize.int8_ready` / ``export_int8``."""
    description: str
    diagonal_split: str = 'auto'
    absorb_constants: bool = True
    per_channel: bool = True
    #: Each layer's mean simulated INT8 error moved into its bias (``export_int8``).
    bias_correction: bool = True
    #: Modules left in float (``export_int8``'s ``keep_float``, both runtimes): ``'ends'``
    #: stands for the first and the last conv / linear layer (:func:`end_layers`).
    keep_float: Tuple[str, ...] = ()


#: The INT8 methods the study compares; ``default`` is what ``--int8`` exports.
METHODS: Dict[str, Method] = {
    'default': Method('per-channel weights, constant channels absorbed, diagonal split auto, '
                      'bias correction (the --int8 default)'),
    'no-bias-correction': Method('the default without bias correction (the default before '
                                 '2026-12-07)', bias_correction=False),
    'no-absorb': Method('per-channel, diagonal split auto, no absorption, no bias correction '
                        '(the default before issue 21)', absorb_constants=False,
                        bias_correction=False),
    'split-all': Method('per-channel, constant channels absorbed, diagonal split of every '
                        'square 1x1, no bias correction', diagonal_split='all',
                        bias_correction=False),
    'split-none': Method('per-channel, constant channels absorbed, no diagonal split, no bias '
                         'correction', diagonal_split='none', bias_correction=False),
    'plain': Method('per-channel, no absorption, no diagonal split, no bias correction',
                    diagonal_split='none', absorb_constants=False, bias_correction=False),
    'keep-ends': Method('the default with the first and the last conv / linear layer in float '
                        '(both runtimes)', keep_float=('ends', )),
    'keep-auto': Method('the default with the layers below 20 dB simulated SQNR in float '
                        '(--keep-float auto)', keep_float=('auto', )),
}
#: Revision of what the methods' rewrites do, recorded with every result so that ``--resume``
#: redoes older ones: 2 = outlier depthwise filters on dead channels replaced, with the
#: constant-channel absorption (2026-12-07); results without it are revision 1.
EXPORT_REVISION = 2
#: Accuracy change (INT8 - float) the docs and tests aim to stay within on every checkpoint:
#: detectors mAP@0.5 (issue 21: 0.02), classifiers top-1 agreement with float (>= 95%).
TARGET_DELTA = {'detection': 0.02, 'classification': 0.05}


def end_layers(module: torch.nn.Module) -> List[str]:
    """Names of the first and the last ``Conv2d`` / ``Linear`` of ``module`` (in module order:
    a MobileOne classifier's stem and its classifier layer)."""
    names = [n for n, m in module.named_modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    return sorted({names[0], names[-1]}) if names else []


def data_root_options(cfg, data_root: str) -> Dict[str, str]:
    """``--cfg-options`` that point the config's train / val / test datasets (and evaluator
    annotation files under the old root) at ``data_root``."""
    root = data_root.rstrip('/') + '/'
    options = {}
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        dataset = loader.get('dataset', {})
        old = dataset.get('data_root')
        options[f'{split}_dataloader.dataset.data_root'] = root
        evaluator = cfg.get(f'{split}_evaluator') if split != 'train' else None
        ann = evaluator.get('ann_file') if isinstance(evaluator, dict) else None
        if ann and old and ann.startswith(old):
            options[f'{split}_evaluator.ann_file'] = root + ann[len(old):].lstrip('/')
    return options


def train_image_dir(cfg) -> Optional[str]:
    """The image folder of the config's training set (calibration data comes from the training
    distribution, not from the images the study scores); ``None`` when it does not exist."""
    dataset = cfg.get('train_dataloader', {}).get('dataset', {})
    while 'data_root' not in dataset and ('dataset' in dataset or 'datasets' in dataset):
        dataset = dataset.get('dataset') or dataset['datasets'][0]
    prefix = dataset.get('data_prefix', '')
    if isinstance(prefix, dict):
        prefix = prefix.get('img', prefix.get('img_path', ''))
    folder = osp.join(dataset.get('data_root') or '', prefix or '')
    return folder if folder and osp.isdir(folder) else None


class _Recorder:
    """A runner that also accumulates each output's SQNR against the float network."""

    def __init__(self, run: Callable, reference: Callable) -> None:
        self.run, self.reference = run, reference
        self.signal: List[float] = []
        self.noise: List[float] = []

    def __call__(self, x: np.ndarray) -> List[np.ndarray]:
        outputs = self.run(x)
        for i, (e, a) in enumerate(zip(self.reference(x), outputs)):
            if len(self.signal) <= i:
                self.signal.append(0.0)
                self.noise.append(0.0)
            e, a = np.asarray(e, np.float64), np.asarray(a, np.float64)
            self.signal[i] += float((e**2).sum())
            self.noise[i] += float(((a - e)**2).sum())
        return outputs

    def sqnr(self) -> List[float]:
        return [math.inf if n == 0 else 10 * math.log10(max(s, 1e-30) / n)
                for s, n in zip(self.signal, self.noise)]


def _cached_reference(wrapper) -> Callable:
    run, cache = torch_runner(wrapper), {}

    def reference(x: np.ndarray) -> List[np.ndarray]:
        key = x.tobytes()
        if key not in cache:
            cache[key] = run(x)
        return cache[key]

    return reference


def study_checkpoint(config: str, checkpoint: str, out_dir: str, *,
                     methods: Sequence[str] = ('default', ),
                     backends: Sequence[str] = ('executorch', 'onnx'),
                     data_root: Optional[str] = None, calib_dir: Optional[str] = None,
                     calib_images: int = 32, limit: Optional[int] = None,
                     threads: int = 1, cfg_options: Optional[Dict] = None) -> Dict:
    """Float and every method's INT8 accuracy of one checkpoint (see :func:`int8_study`).

    ``cfg_options`` (``--cfg-options``) change the config before the model is built; the data
    root options of ``data_root`` come on top of them.

    Returns:
        ``dict(checkpoint, task, metric, float, float_absorbed, calib_dir, calib_images,
        outputs, absorbed, dead, cpu_capability, results={method: {backend: dict(value, delta,
        output_sqnr)}})``: ``value`` is mAP@0.5 or a classifier's top-1 agreement with float
        (``float`` is then 1); a classifier's results also carry ``top1`` (INT8 top-1
        accuracy), and the checkpoint's ``float_top1``, ``float_absorbed_top1`` and ``images``.
        ``cpu_capability``: the CPU path this process measured on.
    """
    torch.set_num_threads(threads)
    options = dict(cfg_options or {})
    if data_root:
        options.update(data_root_options(load_config(config), data_root))
    options = options or None
    model = init_model(config, checkpoint, fuse=True, cfg_options=options)
    task = infer_task(model)
    if task not in ('classification', 'detection'):
        raise ConfigError(f'the INT8 study scores classifiers and detectors, not {task}')
    shape = tuple(pipeline_input_shape(model))
    calib_dir = calib_dir or train_image_dir(model.cfg)
    if calib_dir is None:
        raise MissingPathError(f'{checkpoint}: no calibration folder (the config\'s training '
                               'image folder does not exist): pass --calib-dir or --data-roots')
    calibration = calibration_inputs(model, calib_dir, shape, calib_images)
    wrapper = tensor_model(model, task)
    names = list(output_names(wrapper, calibration[0]))
    reference = _cached_reference(wrapper)
    absorbed_wrapper, absorbed = absorb_constant_inputs(wrapper, calibration)
    absorbed_wrapper, dead = replace_dead_filters(absorbed_wrapper, calibration)

    def score(runners: Dict[str, Callable]) -> Dict[str, Dict[str, float]]:
        """``{name: dict(value=...)}``; a classifier's value is the top-1 agreement with the
        float network, with its top-1 accuracy against the labels as ``top1``."""
        if task == 'classification':
            found = classification_predictions(model, {'float': reference, **runners}, shape,
                                               limit)
            return {k: dict(value=agreement(found[k], found['float']),
                            top1=agreement(found[k], found['labels']), images=len(found[k]))
                    for k in runners}
        return {k: dict(value=float(detection_metrics(model, run, shape, limit)[
            'coco/bbox_mAP_50'])) for k, run in runners.items()}

    metric = 'top-1 agreement with float' if task == 'classification' else 'mAP@0.5'
    floats = score(dict(float=reference, absorbed=_cached_reference(absorbed_wrapper)))
    base = 1.0 if task == 'classification' else floats['float']['value']
    result = dict(checkpoint=checkpoint, task=task, metric=metric,
                  float=floats['float']['value'], float_absorbed=floats['absorbed']['value'],
                  calib_dir=calib_dir, calib_images=len(calibration), outputs=names,
                  absorbed={k: len(v) for k, v in absorbed.items()},
                  dead={k: len(v) for k, v in dead.items()},
                  cpu_capability=cpu_capability(), cfg_options=_jsonable(cfg_options or {}),
                  results={})
    if task == 'classification':
        result.update(float_top1=floats['float']['top1'],
                      float_absorbed_top1=floats['absorbed']['top1'],
                      images=floats['float']['images'])
    result['settings'] = {m: _settings(m) for m in methods}
    for method_name in methods:
        method = METHODS[method_name]
        ready = int8_ready(wrapper, method.diagonal_split, calibration,
                           method.absorb_constants)
        result['results'][method_name] = {}
        keep_float = [n for k in method.keep_float
                      for n in (end_layers(ready) if k == 'ends' else [k])]
        for backend in backends:
            folder = osp.join(out_dir, backend)
            paths = export_int8(backend, ready, calibration[0], calibration, folder,
                                name=f'{method_name}', keep_float=keep_float,
                                per_channel=method.per_channel, diagonal_split='none',
                                absorb_constants=False,
                                bias_correction=method.bias_correction)
            recorder = _Recorder(runtime_runner(backend, paths), reference)
            found = score(dict(int8=recorder))['int8']
            value = found.pop('value')
            found.pop('images', None)
            result['results'][method_name][backend] = dict(
                value=value, delta=value - base, output_sqnr=recorder.sqnr(), **found)
            logger.info('%s %s %s: %s %.3f (%+.3f)', osp.basename(osp.dirname(checkpoint)),
                        method_name, backend, metric, value, value - base)
            for path in paths:  # keep the disk use of a long study flat
                if osp.isfile(path):
                    os.remove(path)
    return result


def summarize(checkpoints: Sequence[Dict], methods: Sequence[str],
              backends: Sequence[str]) -> List[Dict]:
    """Per method and runtime: worst / median / best change against float (a classifier's:
    top-1 agreement - 1), the worst checkpoint and how many stay within
    :data:`TARGET_DELTA`."""
    rows = []
    for method in methods:
        for backend in backends:
            found = [(c['results'][method][backend]['delta'], c['label']) for c in checkpoints
                     if backend in c['results'].get(method, {})]
            if not found:
                continue
            deltas = [d for d, _ in found]
            target = TARGET_DELTA[checkpoints[0]['task']]
            rows.append(dict(method=method, backend=backend, checkpoints=len(found),
                             worst=min(deltas), median=statistics.median(deltas),
                             best=max(deltas), worst_checkpoint=min(found)[1],
                             target=target, within=sum(d >= -target for d in deltas)))
    return rows


def format_study(study: Dict) -> str:
    """Markdown: the worst / median / best summary, then one row per checkpoint.

    Detectors: the mAP@0.5 change against float. Classifiers: the top-1 agreement of INT8 with
    float itself (target: at least ``1 - TARGET_DELTA``), and per checkpoint the float and INT8
    top-1 accuracy next to it.
    """
    checkpoints, methods, backends = study['checkpoints'], study['methods'], study['backends']
    task = checkpoints[0]['task'] if checkpoints else 'detection'
    classification = task == 'classification'
    capabilities = sorted({c.get('cpu_capability', '?') for c in checkpoints})
    if classification:
        lines = [f'{len(checkpoints)} classifier(s); top-1 agreement of INT8 with the fused '
                 'float network, through the runtime on the test set; worst / median / best '
                 f'over the classifiers (measured on: {"; ".join(capabilities)})', '',
                 '| method | runtime | classifiers | worst | median | best | '
                 f'>= {1 - TARGET_DELTA[task]:.2f} | worst classifier |',
                 '|---|---|---:|---:|---:|---:|---:|---|']
        shift, sign = 1.0, ''
    else:
        lines = [f'{len(checkpoints)} checkpoint(s); mAP@0.5 change, INT8 - float, through the '
                 'runtime on the test set; worst / median / best over the checkpoints '
                 f'(measured on: {"; ".join(capabilities)})', '',
                 f'| method | runtime | checkpoints | worst | median | best | within '
                 f'{TARGET_DELTA[task]} | worst checkpoint |',
                 '|---|---|---:|---:|---:|---:|---:|---|']
        shift, sign = 0.0, '+'
    for r in summarize(checkpoints, methods, backends):
        lines.append(f'| {r["method"]} | {r["backend"]} | {r["checkpoints"]} | '
                     f'{r["worst"] + shift:{sign}.3f} | {r["median"] + shift:{sign}.3f} | '
                     f'{r["best"] + shift:{sign}.3f} | {r["within"]}/{r["checkpoints"]} | '
                     f'{r["worst_checkpoint"]} |')
    columns = [(m, b) for m in methods for b in backends]
    if classification:
        header = ('| classifier | images | float top-1 | ' + ' | '.join(
            f'{m} {b} agreement | {m} {b} top-1' for m, b in columns) + ' | absorbed channels |')
        lines += ['', header, '|---|---:|---:|' + '---:|---:|' * len(columns) + '---:|']
    else:
        lines += ['', '| checkpoint | float | ' + ' | '.join(f'{m} {b}' for m, b in columns)
                  + ' | absorbed channels |', '|---|---:|' + '---:|' * len(columns) + '---:|']
    for c in checkpoints:
        cells = []
        for m, b in columns:
            found = c['results'].get(m, {}).get(b)
            if classification:
                cells += ([f'{found["value"]:.3f}', f'{found["top1"]:.3f}'] if found
                          else ['', ''])
            else:
                cells.append(f'{found["delta"]:+.3f}' if found else '')
        first = (f'{c.get("images", "")} | {c["float_top1"]:.3f}' if classification
                 else f'{c["float"]:.3f}')
        lines.append(f'| {c["label"]} | {first} | ' + ' | '.join(cells)
                     + f' | {sum(c["absorbed"].values())} |')
    lines += ['', 'methods: ' + '; '.join(f'`{m}`: {METHODS[m].description}' for m in methods)]
    return '\n'.join(lines) + '\n'


def _labels(checkpoints: Sequence[str]) -> List[str]:
    """Short names: the checkpoint's folder, unless folders repeat (then the path)."""
    labels = [osp.basename(osp.dirname(osp.abspath(c))) or c for c in checkpoints]
    return labels if len(set(labels)) == len(labels) else list(checkpoints)


def int8_study(config: str, checkpoints: Sequence[str], out_dir: str, *,
               methods: Sequence[str] = ('default', ),
               backends: Sequence[str] = ('executorch', 'onnx'),
               data_roots: Optional[Sequence[str]] = None, calib_dir: Optional[str] = None,
               calib_images: int = 32, limit: Optional[int] = None, resume: bool = False,
               fresh_process: bool = True,
               worker_init: Optional[Callable[[], None]] = None,
               cfg_options: Optional[Dict] = None) -> Dict:
    """Quantize every checkpoint with every method and runtime; write ``int8_study.md`` and
    ``int8_study.json`` to ``out_dir`` (the JSON after every checkpoint).

    Args:
        config: The config all checkpoints were trained with.
        checkpoints: Training or fused checkpoints.
        methods: Names in :data:`METHODS`.
        data_roots: One data root per checkpoint (or one for all): the config's datasets and
            annotation files are pointed there (:func:`data_root_options`).
        calib_dir: Calibration images for every checkpoint (default: each one's training
            image folder).
        resume: Keep the checkpoints already in ``out_dir/int8_study.json``.
        fresh_process: Study each checkpoint in a new process (see the module docstring;
            ``spawn``, so a script that calls this needs an ``if __name__ == '__main__':``
            guard).
        worker_init: Run first in each fresh process (a tool passes its logging setup).
        cfg_options: Config changes applied for every checkpoint (``--cfg-options``; the
            options the checkpoints were trained with, where they change the model or the test
            pipeline).

    Raises:
        ConfigError: an unknown method or backend, or as many data roots as neither one nor
            the checkpoints.
        MissingPathError: a checkpoint or data root that does not exist.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(f'unknown INT8 method(s) {", ".join(unknown)}; choose from '
                          f'{", ".join(METHODS)}')
    for backend in backends:
        try:
            check_int8_backend(backend)
        except ValueError as error:
            raise ConfigError(str(error)) from error
    data_roots = list(data_roots or [])
    if len(data_roots) not in (0, 1, len(checkpoints)):
        raise ConfigError(f'{len(data_roots)} data roots for {len(checkpoints)} checkpoints: '
                          'give one for all or one per checkpoint')
    if len(data_roots) == 1:
        data_roots = data_roots * len(checkpoints)
    for path in list(checkpoints) + data_roots:
        if not osp.exists(path):
            raise MissingPathError(f'{path} does not exist')
    os.makedirs(out_dir, exist_ok=True)
    json_path = osp.join(out_dir, 'int8_study.json')
    done: Dict[str, Dict] = {}
    if resume and osp.isfile(json_path):
        with open(json_path) as f:
            done = {c['checkpoint']: c for c in json.load(f)['checkpoints']}
    study = dict(config=config, methods=list(methods), backends=list(backends),
                 checkpoints=[])
    labels = _labels(checkpoints)
    for i, (checkpoint, label) in enumerate(zip(checkpoints, labels)):
        previous = done.get(checkpoint)
        # a result is kept only if it was measured on the same config and its method still
        # means what it meant (the default has changed: bias correction joined it on
        # 2026-12-07, then the replacement of dead depthwise filters: EXPORT_REVISION)
        same_config = previous and previous.get('cfg_options', {}) == _jsonable(
            cfg_options or {})
        if same_config and all(b in previous['results'].get(m, {})
                               and previous.get('settings', {}).get(m) == _settings(m)
                               for m in methods for b in backends):
            found = previous
        else:
            kwargs = dict(methods=methods, backends=backends,
                          data_root=data_roots[i] if data_roots else None,
                          calib_dir=calib_dir, calib_images=calib_images, limit=limit,
                          cfg_options=cfg_options)
            args = (config, checkpoint, osp.join(out_dir, 'models', label))
            if fresh_process:
                with ProcessPoolExecutor(1, mp_context=get_context('spawn'),
                                         initializer=worker_init) as pool:
                    found = pool.submit(_quiet_study, *args, **kwargs).result()
            else:
                found = study_checkpoint(*args, **kwargs)
        found['label'] = label
        study['checkpoints'].append(found)
        with open(json_path, 'w') as f:
            json.dump(study, f, indent=1, default=float)
        logger.info('[%d/%d] %s done', i + 1, len(checkpoints), label)
    study['summary'] = summarize(study['checkpoints'], methods, backends)
    with open(json_path, 'w') as f:
        json.dump(study, f, indent=1, default=float)
    text = format_study(study)
    with open(osp.join(out_dir, 'int8_study.md'), 'w') as f:
        f.write(text)
    return study


def _jsonable(value):
    """``value`` as it reads back from JSON (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


def _settings(method: str) -> Dict:
    """What ``method`` does, as recorded with its results (JSON-comparable)."""
    return _jsonable(dict(dataclasses.asdict(METHODS[method]), revision=EXPORT_REVISION))


def _quiet_study(*args, **kwargs) -> Dict:
    """:func:`study_checkpoint` in a spawned process, without mmengine's per-step info lines."""
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    return study_checkpoint(*args, **kwargs)


__all__ = ['METHODS', 'Method', 'TARGET_DELTA', 'data_root_options', 'end_layers', 'format_study',
           'int8_study', 'study_checkpoint', 'summarize', 'train_image_dir']
