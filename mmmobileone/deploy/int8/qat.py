"""Quantization-aware fine-tuning (PT2E, XNNPACK quantizer) of a fused classifier, distilled
from its own float network, for when post-training quantization moves too many predictions.

The fused network is captured with ``torch.export`` (dynamic batch), prepared with
``prepare_qat_pt2e`` (fake-quantized per-channel INT8 weights and INT8 activations, as the
ExecuTorch INT8 export uses) and fine-tuned on the config's training images to reproduce the
float network's output distribution (KL divergence to the float softmax; no labels needed), then
converted and lowered to the XNNPACK delegate like a PTQ model.
"""
import copy
import logging
from typing import List, Optional, Sequence

import torch
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch import nn

from ..backends._common import require
from ..backends.executorch import write_program
from .quantize import INT8_BACKENDS, INT8_TAG

logger = logging.getLogger(__name__)


def _train_loader(cfg, batch_size: int):
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    loader = copy.deepcopy(cfg.train_dataloader)
    loader.update(batch_size=batch_size, num_workers=0, persistent_workers=False)
    return Runner.build_dataloader(loader)


def qat_xnnpack(model: nn.Module, wrapper: nn.Module, shape: Sequence[int], *, epochs: int = 2,
                batch_size: int = 16, lr: float = 1e-3, temperature: float = 1.0,
                max_iters: Optional[int] = None) -> nn.Module:
    """Fine-tune a PT2E QAT copy of ``wrapper`` (a fused classifier's tensor view) on the
    training images of ``model.cfg``; returns the converted (INT8) graph module."""
    pt2e = require('torchao.quantization.pt2e.quantize_pt2e', 'torchao', 'executorch')
    helpers = require('torchao.quantization.pt2e', 'torchao', 'executorch')
    xnn = require('executorch.backends.xnnpack.quantizer.xnnpack_quantizer', 'executorch',
                  'executorch')
    teacher = wrapper.eval()
    example = torch.randn(batch_size, 3, *shape)
    batch = torch.export.Dim('batch', min=1, max=1024)
    captured = torch.export.export(copy.deepcopy(wrapper).train(), (example, ), strict=False,
                                   dynamic_shapes=({0: batch}, )).module()
    quantizer = xnn.XNNPACKQuantizer().set_global(
        xnn.get_symmetric_quantization_config(is_per_channel=True, is_qat=True))
    student = pt2e.prepare_qat_pt2e(captured, quantizer)
    helpers.move_exported_model_to_train(student)
    optimizer = torch.optim.SGD(student.parameters(), lr=lr, momentum=0.9)
    loader = _train_loader(model.cfg, batch_size)
    step = 0
    for epoch in range(epochs):
        for data in loader:
            inputs = model.data_preprocessor(data, True)['inputs'].float()
            if tuple(inputs.shape[-2:]) != tuple(shape):
                inputs = nn.functional.interpolate(inputs, size=tuple(shape), mode='bilinear',
                                                   align_corners=False)
            with torch.no_grad():
                target = torch.softmax(teacher(inputs) / temperature, 1)
            log_probs = torch.log_softmax(student(inputs) / temperature, 1)
            loss = nn.functional.kl_div(log_probs, target, reduction='batchmean')
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step % 10 == 0:
                logger.info('QAT epoch %d step %d: distillation loss %.4f', epoch, step,
                            float(loss))
            if max_iters and step >= max_iters:
                break
    helpers.move_exported_model_to_eval(student)
    return pt2e.convert_pt2e(student)


def export_executorch_qat(model: nn.Module, wrapper: nn.Module, shape: Sequence[int],
                          out_dir: str, name: str = 'model_qat', **options) -> List[str]:
    """QAT (:func:`qat_xnnpack`), then the INT8 ``.pte`` at ``out_dir/{name}_int8.pte``."""
    quantized = qat_xnnpack(model, wrapper, shape, **options)
    return write_program(quantized, torch.randn(1, 3, *shape), out_dir,
                         name + INT8_TAG + INT8_BACKENDS['executorch'])
