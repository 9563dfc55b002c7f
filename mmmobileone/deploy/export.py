"""Config + checkpoint -> fused ONNX model, verified against ONNX Runtime."""
import logging
from typing import Dict, Optional, Sequence

import torch

from ..analysis.complexity import DEFAULT_SIZES
from ..apis.model import ConfigLike, init_model
from .backends.onnx import DEFAULT_OPSET, compare_with_onnxruntime, export_onnx
from .outputs import infer_task, tensor_model

logger = logging.getLogger(__name__)


def export_config_onnx(config: ConfigLike,
                       checkpoint: Optional[str],
                       out: str,
                       *,
                       shape: Optional[Sequence[int]] = None,
                       task: str = 'auto',
                       fuse: bool = True,
                       dynamic_spatial: Optional[bool] = None,
                       opset: int = DEFAULT_OPSET,
                       verify_batch: int = 2,
                       cfg_options: Optional[Dict] = None) -> Dict:
    """Export the config's (fused) network to ONNX at ``out`` and compare it with PyTorch.

    Args:
        config: Config file or :class:`mmengine.Config`.
        checkpoint: Training (unfused) or deployed (fused) checkpoint; ``None`` keeps the
            initialization.
        out: The ``.onnx`` file to write.
        shape: Example input ``(H, W)``; default 224 / 320 / 512 by task.
        task: ``'auto'`` (from the model) or a task name.
        fuse: Export the re-parameterized network (``False``: the train-time branches).
        dynamic_spatial: Dynamic height/width axes; default: segmentation only.
        opset: ONNX opset.
        verify_batch: Batch size of the random verification input (tests the dynamic batch
            axis); 0 skips verification.
        cfg_options: Config overrides.

    Returns:
        ``dict(path, task, outputs, max_abs_diff, relative_diff)``; the differences are
        ``None`` when verification is skipped.
    """
    model = init_model(config, checkpoint, fuse=fuse, cfg_options=cfg_options)
    task = infer_task(model) if task == 'auto' else task
    wrapper = tensor_model(model, task)
    height, width = shape or DEFAULT_SIZES[task]
    if dynamic_spatial is None:
        dynamic_spatial = task == 'segmentation'
    example = torch.randn(1, 3, height, width)
    names = export_onnx(wrapper, example, out, dynamic_batch=True,
                        dynamic_spatial=dynamic_spatial, opset=opset)
    logger.info('exported %s (%s; outputs: %s)', out, task, ', '.join(names))
    result = dict(path=out, task=task, outputs=names, max_abs_diff=None, relative_diff=None)
    if verify_batch > 0:
        inputs = torch.randn(verify_batch, 3, height, width,
                             generator=torch.Generator().manual_seed(0))
        check = compare_with_onnxruntime(wrapper, out, inputs)
        result.update(max_abs_diff=check['max_abs_diff'], relative_diff=check['relative'])
        logger.info('ONNX Runtime vs PyTorch on a %s input: max abs difference %.3g (outputs '
                    'up to %.3g, relative %.2g)', 'x'.join(map(str, inputs.shape)),
                    check['max_abs_diff'], check['max_abs_value'], check['relative'])
    return result
