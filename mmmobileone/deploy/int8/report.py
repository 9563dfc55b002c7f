"""Float vs INT8 through the runtimes, on the config's test set: the study of docs/deployment.md.

For each backend the fused network is exported in float and in INT8 (optionally a second INT8
variant with some modules kept in float), every model is run by its runtime on the test set,
and the results are scored as ``tools/test.py`` would (see :mod:`.evaluate`). Optionally the
per-layer SQNR study (:mod:`.sqnr`) of the same network.
"""
import json
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

from ...apis.model import ConfigLike, init_model
from ..backends import executorch, onnx
from ..outputs import infer_task, tensor_model
from .bias import bias_corrected
from .calibration import calibration_inputs
from .evaluate import agreement, classification_predictions, detection_metrics, pipeline_input_shape
from .export import default_calib_dir
from .qat import export_executorch_qat
from .quantize import check_int8_backend, export_int8, int8_ready
from .runtime import runtime_runner
from .sqnr import format_study, resolve_keep_float, sqnr_study

logger = logging.getLogger(__name__)


def _float_export(backend: str, wrapper, example, out_dir: str) -> List[str]:
    if backend == 'executorch':
        return executorch.export(wrapper, example, out_dir, name='model_float')
    path = osp.join(out_dir, 'model_float.onnx')
    onnx.export_onnx(wrapper, example, path, dynamic_batch=False)
    return [path]


def _size_mb(paths: Sequence[str]) -> float:
    return sum(osp.getsize(p) for p in paths) / 1e6


def int8_report(config: ConfigLike, checkpoint: Optional[str], out_dir: str, *,
                backends: Sequence[str] = ('executorch', 'onnx'),
                calib_dir: Optional[str] = None, calib_images: int = 32,
                shape: Optional[Sequence[int]] = None,
                keep_float: Sequence[str] = (), sqnr: bool = False,
                limit: Optional[int] = None, qat_epochs: int = 0, qat_lr: float = 1e-4,
                cfg_options: Optional[Dict] = None) -> Dict:
    """Run the study; write ``int8_report.md`` and ``int8_report.json`` to ``out_dir``.

    ``shape`` defaults to the input the config's test pipeline gives (what ``tools/test.py``
    measures). ``qat_epochs`` > 0 adds, for a classifier on ExecuTorch, an INT8 model
    fine-tuned with quantization-aware training (:mod:`.qat`) for that many epochs at
    ``qat_lr``.

    Returns:
        ``dict(task, rows=[dict(backend, variant, size_mb, metrics...)], sqnr=...)``.
    """
    for backend in backends:
        check_int8_backend(backend)
    model = init_model(config, checkpoint, fuse=True, cfg_options=cfg_options)
    task = infer_task(model)
    if task == 'segmentation':
        raise ValueError('the runtime accuracy study covers classification and detection')
    shape = tuple(shape or pipeline_input_shape(model))
    calib_dir = calib_dir or default_calib_dir(model.cfg)
    if calib_dir is None:
        raise ValueError('pass calib_dir: the config\'s test image folder does not exist')
    calibration = calibration_inputs(model, calib_dir, shape, calib_images)
    wrapper = tensor_model(model, task)
    example = calibration[0]
    os.makedirs(out_dir, exist_ok=True)
    # (label, kept in float, per-channel weights, diagonal split, constant absorption, bias
    # correction)
    variants = [('INT8 per-tensor weights, no diagonal split', (), False, 'none', False, False),
                ('INT8 per-channel, no diagonal split', (), True, 'none', False, False),
                ('INT8 per-channel, diagonal split of all square 1x1', (), True, 'all', False,
                 False),
                ('INT8 per-channel, diagonal split auto, no absorption (default before issue '
                 '21)', (), True, 'auto', False, False),
                ('INT8 per-channel, constant channels absorbed, diagonal split auto (default '
                 'before 2026-12-07)', (), True, 'auto', True, False),
                ('INT8 default: per-channel, constant channels absorbed, diagonal split auto, '
                 'bias correction', (), True, 'auto', True, True)]
    # each variant's network, built once (auto runs an SQNR pass to choose)
    ready = {(split, absorb): int8_ready(wrapper, split, calibration, absorb)
             for _, _, _, split, absorb, _ in variants}
    if 'auto' in keep_float:
        keep_float = resolve_keep_float(ready['auto', True], calibration, keep_float)
        logger.info('kept in float (auto): %s', ', '.join(keep_float) or 'nothing')
    if keep_float:
        variants.append(('INT8 default, float ' + ', '.join(keep_float), keep_float, True,
                         'auto', True, True))
    rows = []
    for backend in backends:
        models = {'float': _float_export(backend, wrapper, example,
                                         osp.join(out_dir, backend))}
        for label, kept, per_channel, split, absorb, correct in variants:
            models[label] = export_int8(
                backend, ready[split, absorb], example, calibration,
                osp.join(out_dir, backend),
                name='model' + ('_keep' if kept else '') + ('' if per_channel else '_tensor')
                + ('' if split == 'auto' else f'_split_{split}') + ('' if absorb else '_plain')
                + ('' if correct else '_uncorrected'),
                keep_float=kept, per_channel=per_channel,
                # ready[...] is already rewritten as the variant says
                diagonal_split='none', absorb_constants=False, bias_correction=correct)
        if qat_epochs and task == 'classification' and backend == 'executorch':
            models[f'INT8 QAT ({qat_epochs} epochs, lr {qat_lr:g})'] = export_executorch_qat(
                model, wrapper, shape, osp.join(out_dir, backend), epochs=qat_epochs, lr=qat_lr)
        runners = {label: runtime_runner(backend, paths) for label, paths in models.items()}
        if task == 'classification':
            found = classification_predictions(model, runners, shape, limit)
            for label in models:
                rows.append(dict(backend=backend, variant=label,
                                 size_mb=_size_mb(models[label]),
                                 top1=float((found[label] == found['labels']).mean()),
                                 agreement=agreement(found[label], found['float']),
                                 images=len(found['labels'])))
        else:
            for label in models:
                metrics = detection_metrics(model, runners[label], shape, limit)
                rows.append(dict(backend=backend, variant=label,
                                 size_mb=_size_mb(models[label]),
                                 mAP=metrics.get('coco/bbox_mAP'),
                                 mAP_50=metrics.get('coco/bbox_mAP_50')))
        for row in rows[-len(models):]:
            logger.info('%s', row)
    result = dict(task=task, shape=shape, calib_dir=calib_dir, calib_images=len(calibration),
                  keep_float=list(keep_float), rows=rows)
    lines = [f'{task}, input {shape[0]}x{shape[1]}, {len(calibration)} calibration images '
             f'from {calib_dir}', '']
    if task == 'classification':
        lines += ['| runtime | model | file (MB) | top-1 | top-1 agreement with float |',
                  '|---|---|---:|---:|---:|']
        lines += [f'| {r["backend"]} | {r["variant"]} | {r["size_mb"]:.2f} | '
                  f'{r["top1"]:.4f} | {r["agreement"]:.4f} ({r["images"]} images) |'
                  for r in rows]
    else:
        lines += ['| runtime | model | file (MB) | bbox mAP | mAP@0.5 |',
                  '|---|---|---:|---:|---:|']
        lines += [f'| {r["backend"]} | {r["variant"]} | {r["size_mb"]:.2f} | {r["mAP"]:.3f} | '
                  f'{r["mAP_50"]:.3f} |' for r in rows]
    if sqnr:
        evaluation = calibration[:8]
        result['sqnr'] = {}
        for label, kept, per_channel, split, absorb, correct in variants:
            network = ready[split, absorb]
            if correct:
                network = bias_corrected(network, calibration, kept, per_channel)
            layers, outputs = sqnr_study(network, calibration, evaluation, kept, per_channel)
            result['sqnr'][label] = dict(layers=[vars(r) for r in layers], outputs=outputs)
            lines += ['', f'SQNR study ({label}; simulated, {len(evaluation)} images):', '',
                      format_study(layers, outputs)]
    text = '\n'.join(lines) + '\n'
    with open(osp.join(out_dir, 'int8_report.md'), 'w') as f:
        f.write(text)
    with open(osp.join(out_dir, 'int8_report.json'), 'w') as f:
        json.dump(result, f, indent=1, default=float)
    logger.info('\n%s', text)
    return result
