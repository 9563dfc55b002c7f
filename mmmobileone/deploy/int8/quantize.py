"""Static INT8 post-training quantization for the runtimes that run INT8 models here.

* ``executorch``: PT2E quantization with ExecuTorch's ``XNNPACKQuantizer`` (symmetric s8,
  per-output-channel weights, per-tensor activations observed over the calibration images),
  then lowered to the XNNPACK delegate and written as one ``.pte``.
* ``onnx``: ONNX Runtime's static quantization in QDQ format (per-channel symmetric u8 weights,
  u8 activations with min/max calibration: U8U8, see :func:`export_onnx_int8`) of the float
  ONNX export.

Both quantize the fused (re-parameterized) network after three rewrites (:func:`export_int8`):
constant input channels absorbed into the bias (:mod:`.absorb`), the diagonal split off the
square 1x1 kernels where that pays (:mod:`.diagonal`), and each layer's mean simulated INT8 error
moved into its bias (:mod:`.bias`). ``keep_float`` names modules (dotted names inside the
tensor-in / tensors-out wrapper, e.g. ``model.backbone.stem``) that stay in float.
"""
import copy
import logging
import os
import os.path as osp
from typing import Iterable, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ...errors import ConfigError
from ..backends._common import publish, require, staging_folder
from ..backends.executorch import write_program
from ..backends.onnx import export_onnx
from .absorb import absorb_constant_inputs, replace_dead_filters
from .bias import bias_corrected
from .diagonal import split_diagonal, square_fused_kernels
from .sqnr import resolve_diagonal_split, resolve_keep_float

logger = logging.getLogger(__name__)

#: Backends that export INT8 models, and the file each writes (``{name}_int8{suffix}``).
INT8_BACKENDS = {'executorch': '.pte', 'onnx': '.onnx'}
INT8_TAG = '_int8'
#: How the square 1x1 fused kernels are quantized (:func:`int8_ready`).
DIAGONAL_SPLIT_MODES = ('auto', 'all', 'none')


def check_int8_backend(backend: str) -> None:
    """Raise a one-line ValueError unless ``backend`` can export INT8."""
    if backend not in INT8_BACKENDS:
        raise ConfigError(f'INT8 export is not available for the {backend!r} backend; it is '
                          f'for: {", ".join(INT8_BACKENDS)}')


def _xnnpack_quantizer(keep_float: Sequence[str] = (), per_channel: bool = True):
    module = require('executorch.backends.xnnpack.quantizer.xnnpack_quantizer', 'executorch',
                     'executorch')
    quantizer = module.XNNPACKQuantizer().set_global(
        module.get_symmetric_quantization_config(is_per_channel=per_channel))
    if keep_float:
        quantizer.set_filter_function(_outside(keep_float))
    return quantizer


def _module_path(name: str) -> str:
    # torch.export records fully qualified names, sometimes with the tracer's prefix
    for prefix in ("L['self'].", 'L__self___'):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def _outside(keep_float: Sequence[str]):
    """Node filter of the quantizer: False for nodes inside one of the ``keep_float``
    modules (according to the ``nn_module_stack`` that ``torch.export`` records)."""

    def quantize(node) -> bool:
        for entry in node.meta.get('nn_module_stack', {}).values():
            path = _module_path(entry[0])
            if any(path == k or path.startswith(k + '.') for k in keep_float):
                return False
        return True

    return quantize


@torch.no_grad()
def quantize_pt2e_xnnpack(module: nn.Module, example: Tensor, calibration: Iterable[Tensor],
                          keep_float: Sequence[str] = (), per_channel: bool = True) -> nn.Module:
    """The PT2E-quantized (``convert_pt2e``) graph of ``module`` for ``example``'s shape.

    Args:
        module: Tensor-in / tensors-out module, eval mode.
        example: Input of the exported shape.
        calibration: Inputs of that shape to observe activation ranges on.
        keep_float: Module names left in float.
        per_channel: One weight scale per output channel (``False``: per tensor, for
            comparison).
    """
    pt2e = require('torchao.quantization.pt2e.quantize_pt2e', 'torchao', 'executorch')
    quantizer = _xnnpack_quantizer(keep_float, per_channel)
    captured = torch.export.export(module.eval(), (example, ), strict=False).module()
    prepared = pt2e.prepare_pt2e(captured, quantizer)
    count = 0
    for x in calibration:
        prepared(x)
        count += 1
    if not count:
        raise ValueError('no calibration inputs')
    return pt2e.convert_pt2e(prepared)


def export_executorch_int8(module: nn.Module, example: Tensor, calibration: Iterable[Tensor],
                           out_dir: str, name: str = 'model', keep_float: Sequence[str] = (),
                           per_channel: bool = True) -> List[str]:
    """INT8 ``.pte`` (XNNPACK delegate) of ``module`` at ``out_dir/{name}_int8.pte``."""
    quantized = quantize_pt2e_xnnpack(module, example, calibration, keep_float, per_channel)
    return write_program(quantized, example, out_dir,
                         name + INT8_TAG + INT8_BACKENDS['executorch'])


def onnx_node_names(path: str, keep_float: Sequence[str]) -> List[str]:
    """Nodes of the ONNX graph at ``path`` that belong to the modules ``keep_float``.

    The TorchScript exporter names nodes after their module path
    (``/model/backbone/stem/reparam_conv/Conv``); a module ``a.b.c`` owns the nodes whose scope
    is ``/a/b/c/...`` (ModuleList children appear as ``/a/b/b.0/...``), or ``/b/c/...`` where the
    wrapper's own scope is missing.
    """
    import onnx  # optional: the deploy extra's onnx, imported only for an ONNX export
    graph = onnx.load(path, load_external_data=False).graph
    chosen = []
    for node in graph.node:
        scope = [s.split('.')[-1] for s in node.name.strip('/').split('/')[:-1]]
        for name in keep_float:
            parts = name.split('.')
            # a wrapper that calls its model's _forward (detector, segmentor) has no scope of
            # its own: /backbone/... instead of /model/backbone/...
            if any(scope[:len(p)] == p for p in (parts, parts[1:]) if p):
                chosen.append(node.name)
                break
    return chosen


class _Reader:
    """ONNX Runtime's ``CalibrationDataReader`` protocol over a list of inputs."""

    def __init__(self, input_name: str, calibration: Iterable[Tensor]) -> None:
        self.feeds = iter([{input_name: x.numpy()} for x in calibration])

    def get_next(self):
        return next(self.feeds, None)


def export_onnx_int8(module: nn.Module, example: Tensor, calibration: Iterable[Tensor],
                     out_dir: str, name: str = 'model', keep_float: Sequence[str] = (),
                     per_channel: bool = True) -> List[str]:
    """ONNX Runtime static QDQ INT8 model of ``module`` at ``out_dir/{name}_int8.onnx``.

    Activations u8 (min/max calibration); weights u8, symmetric (zero point 127), per output
    channel: U8U8. ONNX Runtime's x86 kernels for u8 x s8 (U8S8, S8S8) on CPUs without VNNI
    (AVX2, AVX-512 without VNNI) add pairs of products in 16 bits and saturate, so such a file
    scores lower there than on a VNNI CPU (-0.037 mAP@0.5 against float on the suite's trained
    detector); its u8 x u8 kernels widen before adding and give the same integers on every CPU.
    Symmetric u8 weights are symmetric s8 ones shifted by 127 (254 steps over ``[-max, max]``).
    QLinearConv needs one zero point for all channels of a per-channel weight, which ONNX
    Runtime's quantizer breaks for an all-zero channel (:func:`_uniform_zero_points` repairs
    that exactly). See docs/deployment.md, section 5.
    """
    require('onnxruntime.quantization', 'onnxruntime', 'onnx')
    from onnxruntime import quantization as q  # optional: the deploy extra's onnxruntime
    from onnxruntime.quantization.shape_inference import quant_pre_process  # optional, as above

    calibration = list(calibration)
    if not calibration:
        raise ValueError('no calibration inputs')
    with staging_folder(out_dir) as staging:
        float_path = osp.join(staging, 'float.onnx')
        export_onnx(module, example, float_path, dynamic_batch=False)
        prepared = osp.join(staging, 'prepared.onnx')
        try:  # shape inference + graph optimization, as ONNX Runtime recommends
            quant_pre_process(float_path, prepared, skip_symbolic_shape=True)
        except Exception as error:  # noqa: BLE001 (the float model still quantizes)
            logger.debug('quant_pre_process failed (%s); quantizing the export as is', error)
            prepared = float_path
        excluded = onnx_node_names(prepared, keep_float) if keep_float else []
        staged = osp.join(staging, name + INT8_TAG + INT8_BACKENDS['onnx'])
        q.quantize_static(
            prepared, staged, _Reader('input', calibration), quant_format=q.QuantFormat.QDQ,
            per_channel=per_channel, activation_type=q.QuantType.QUInt8,
            weight_type=q.QuantType.QUInt8, calibrate_method=q.CalibrationMethod.MinMax,
            nodes_to_exclude=excluded, extra_options={'WeightSymmetric': True})
        _uniform_zero_points(staged)
        for leftover in os.listdir(staging):  # the calibrator's augmented model and friends
            if leftover != osp.basename(staged):
                path = osp.join(staging, leftover)
                if osp.isfile(path):
                    os.remove(path)
        return publish([staged], out_dir)


def _uniform_zero_points(path: str) -> int:
    """Give every per-channel weight of the QDQ model at ``path`` one zero point, in place;
    returns how many channels were rewritten.

    ONNX Runtime's quantizer gives a channel whose weights are all zero (an input channel
    absorbed into the bias, a diagonal of zeros) scale 1 and zero point 0 instead of the
    symmetric 127 of the other channels, and its QLinearConv then refuses the model ("zero
    point of per-channel filter must be same"). Such a channel dequantizes to zero with any
    zero point equal to its stored values, so it takes the common zero point as values and as
    zero point: the same weights, exactly.
    """
    import onnx  # optional: the deploy extra's onnx, imported only for an ONNX export
    from onnx import numpy_helper  # optional, as above
    model = onnx.load(path)
    initializers = {init.name: init for init in model.graph.initializer}
    rewritten = 0
    for node in model.graph.node:
        if node.op_type != 'DequantizeLinear' or len(node.input) < 3:
            continue
        names = node.input[0], node.input[2]
        if not all(name in initializers for name in names):
            continue  # an activation, not a stored weight
        values, zero_points = (numpy_helper.to_array(initializers[n]).copy() for n in names)
        if zero_points.ndim != 1 or values.dtype != np.uint8 or len(set(zero_points)) < 2:
            continue
        axis = next((a.i for a in node.attribute if a.name == 'axis'), 1)
        moved = np.moveaxis(values, axis, 0).copy()
        # channels whose stored values all equal their zero point hold zeros; the others must
        # share one (symmetric) zero point, which the zero channels then take
        zero = np.array([(moved[c] == zero_points[c]).all() for c in range(len(zero_points))])
        if zero.all() or len(set(zero_points[~zero])) != 1:
            continue  # nothing to match, or not symmetric: left to ONNX Runtime to judge
        common = zero_points[~zero][0]
        for channel in np.flatnonzero(zero & (zero_points != common)):
            moved[channel] = common
            zero_points[channel] = common
            rewritten += 1
        for name, array in zip(names, (np.moveaxis(moved, 0, axis), zero_points)):
            initializers[name].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(array),
                                                                name))
    if rewritten:
        onnx.save(model, path)
        logger.debug('INT8 ONNX: %d all-zero weight channel(s) moved to the common zero point',
                     rewritten)
    return rewritten


def int8_ready(module: nn.Module, diagonal_split: str = 'auto',
               calibration: Optional[Sequence[Tensor]] = None,
               absorb_constants: Optional[bool] = None) -> nn.Module:
    """The network as it is quantized.

    ``absorb_constants`` (``None``: whenever ``calibration`` is given; ``True`` needs it): first
    fold the input channels of the 1x1 convs that are constant on the calibration images
    (spread below one INT8 step) into their bias (:func:`.absorb.absorb_constant_inputs`; the
    same function, without the INT8 rounding of the constant that huge folded weights
    amplify), then replace the outlier depthwise filters whose channel is exactly 0 on every
    calibration image by a typical centre tap (:func:`.absorb.replace_dead_filters`; since
    2026-12-07).

    ``diagonal_split`` (one of :data:`DIAGONAL_SPLIT_MODES`): ``'none'`` leaves the kernels as
    they are; ``'all'`` makes every square 1x1 fused kernel carry its diagonal as a separate
    depthwise conv (:func:`.diagonal.split_diagonal`: the same function in float, far less INT8
    error where the folded identity dominates); ``'auto'`` (needs ``calibration``) splits only
    the kernels where that raises the simulated SQNR by at least
    :data:`.sqnr.AUTO_SPLIT_GAIN_DB` (each split costs a depthwise conv and an add).

    ``module`` itself is never changed (a copy is returned when anything is rewritten).

    Raises:
        ValueError: an unknown ``diagonal_split``, or no ``calibration`` where one is needed.
    """
    if diagonal_split not in DIAGONAL_SPLIT_MODES:
        raise ConfigError(f'diagonal_split must be one of {", ".join(DIAGONAL_SPLIT_MODES)}, '
                          f'got {diagonal_split!r}')
    module = module.eval()
    if absorb_constants is None:
        absorb_constants = bool(calibration)
    if absorb_constants:
        if not calibration:
            raise ValueError('absorb_constants=True needs calibration inputs')
        module, _ = absorb_constant_inputs(module, calibration)
        module, _ = replace_dead_filters(module, calibration)
    if diagonal_split == 'none':
        return module
    if diagonal_split == 'auto' and not calibration:
        raise ValueError("diagonal_split='auto' needs calibration inputs")
    total = len(square_fused_kernels(module))
    if not total:  # not a MobileOne (or nothing square to split)
        return module
    names = None
    if diagonal_split == 'auto':
        names = resolve_diagonal_split(module, calibration)
    module = copy.deepcopy(module)
    names = split_diagonal(module, names)
    logger.info('INT8: diagonal split of %d of %d square 1x1 fused kernel(s) (%s)%s',
                len(names), total, diagonal_split, f': {", ".join(names)}' if names else '')
    return module


def export_int8(backend: str, module: nn.Module, example: Tensor, calibration: Iterable[Tensor],
                out_dir: str, name: str = 'model', keep_float: Sequence[str] = (),
                per_channel: bool = True, diagonal_split: str = 'auto',
                absorb_constants: bool = True, bias_correction: bool = True) -> List[str]:
    """INT8 export with ``backend`` (one of :data:`INT8_BACKENDS`); returns the written paths.

    ``keep_float`` names modules left in float; ``'auto'`` among them adds the layers whose
    simulated INT8 error is too large (:func:`.sqnr.resolve_keep_float`). The network quantized
    is :func:`int8_ready` of ``module`` with ``diagonal_split`` and ``absorb_constants``, then,
    with ``bias_correction``, the mean simulated INT8 error of each quantized layer moved into
    its bias (:func:`.bias.correct_bias`); ``module`` is not changed.

    Raises:
        ValueError: ``backend`` has no INT8 export (the message lists those that do), or no
            calibration input.
        ImportError: the backend's package is missing (the message names the extra).
    """
    check_int8_backend(backend)
    calibration = list(calibration)
    module = int8_ready(module, diagonal_split, calibration, absorb_constants)
    if 'auto' in keep_float:
        keep_float = resolve_keep_float(module, calibration, keep_float)
        logger.info('kept in float (auto): %s', ', '.join(keep_float) or 'nothing')
    if bias_correction:
        module = bias_corrected(module, calibration, keep_float, per_channel)
    exporter = dict(executorch=export_executorch_int8, onnx=export_onnx_int8)[backend]
    paths = exporter(module, example, calibration, out_dir, name, keep_float, per_channel)
    logger.info('wrote %s (INT8, %s)', paths[0], backend)
    return paths


__all__ = ['DIAGONAL_SPLIT_MODES', 'INT8_BACKENDS', 'check_int8_backend', 'export_int8',
           'int8_ready', 'export_executorch_int8', 'export_onnx_int8', 'quantize_pt2e_xnnpack',
           'onnx_node_names']
