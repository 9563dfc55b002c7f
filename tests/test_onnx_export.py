"""ONNX export of fused MobileOne models, checked against ONNX Runtime on the same inputs."""
import copy

import onnx
import pytest
import torch
from conftest import ROOT, randomize_bn, relative_error, s0_classifier_config
from mmengine.config import Config
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmmobileone.apis import init_model
from mmmobileone.deploy import as_tuple, tensor_model
from mmmobileone.deploy.backends import get_backend
from mmmobileone.deploy.backends.onnx import export_onnx
from mmmobileone.deploy.export import check_input
from mmmobileone.deploy.parity import compare_outputs, worst_relative
from mmmobileone.errors import ConfigError
from mmmobileone.models import MobileOne, reparameterize_model
from tools.deployment.export_onnx import export as run_export

CLASSIFIER_CFG = s0_classifier_config(10)
#: S4's pattern (SE on the last blocks of stages 3 and 4), small.
S4_LIKE = dict(num_blocks=[1, 1, 2, 1], width_factor=[0.5, 0.5, 0.5, 0.5],
               num_conv_branches=[1, 1, 1, 1], num_se_blocks=[0, 0, 1, 1])


def op_types(path: str) -> set:
    return {node.op_type for node in onnx.load(path).graph.node}


def random_checkpoint(config: str, path: str, cfg_options=None, size: int = 64) -> nn.Module:
    """Save an unfused model of ``config`` with random weights and BatchNorm statistics
    calibrated on random images (so activations stay O(1), as in a trained network)."""
    torch.manual_seed(0)
    model = init_model(config, None, fuse=False, cfg_options=cfg_options)
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        model._forward(torch.randn(4, 3, size, size))
    torch.save(dict(state_dict=model.eval().state_dict()), path)
    return model.eval()


def onnx_outputs(path_or_session, inputs: torch.Tensor) -> list:
    """ONNX Runtime's outputs (a path is loaded into the ``onnx`` backend's session)."""
    session = (get_backend('onnx').load([path_or_session])
               if isinstance(path_or_session, str) else path_or_session)
    return session.run([inputs.numpy()])


def torch_vs_onnx(wrapper: nn.Module, session, inputs: torch.Tensor) -> dict:
    """``dict(max_abs_diff, relative)`` of ONNX Runtime against PyTorch over all outputs."""
    with torch.no_grad():
        expected = [t.numpy() for t in as_tuple(wrapper.eval()(inputs))]
    results = compare_outputs(expected, onnx_outputs(session, inputs),
                              [f'output_{i}' for i in range(len(expected))])
    return dict(max_abs_diff=max(r.max_abs_diff for r in results),
                relative=worst_relative(results))


def float32_error(wrapper: nn.Module, inputs: torch.Tensor) -> float:
    """How far PyTorch's own float32 outputs are from float64: the accuracy to expect."""
    with torch.no_grad():
        single = as_tuple(wrapper(inputs))
        double = as_tuple(copy.deepcopy(wrapper).double()(inputs.double()))
    return max(float((s - d).abs().max()) for s, d in zip(single, double))


def test_classifier_export_tool_fused_dynamic_batch(tmp_path):
    config = tmp_path / 'mobileone_s0_cls.py'
    config.write_text(CLASSIFIER_CFG)
    torch.manual_seed(0)
    model = randomize_bn(init_model(str(config), None, fuse=False), seed=1)
    torch.save(dict(state_dict=model.state_dict()), str(tmp_path / 'ckpt.pth'))
    out = str(tmp_path / 'cls.onnx')
    result = run_export([str(config), str(tmp_path / 'ckpt.pth'), '--out', out, '--shape', '64',
                         '64', '--verify-batch', '2'])
    assert result.task == 'classification' and result.output_names == ['logits']
    assert result.paths == [out]
    # the tool compared ONNX Runtime with PyTorch at the verification batch
    assert [r.shape for r in result.parity] == [(2, 10)]
    assert result.worst_relative < 1e-5
    # fused: one Conv per unit, no BatchNormalization left; batch 3 against the unfused model
    ops = op_types(out)
    assert 'BatchNormalization' not in ops and 'Conv' in ops
    convs = sum(node.op_type == 'Conv' for node in onnx.load(out).graph.node)
    assert convs == 1 + 2 * sum(MobileOne('s0').arch['num_blocks'])
    inputs = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = model(inputs, mode='tensor')
    (actual, ) = onnx_outputs(out, inputs)
    assert actual.shape == (3, 10)
    assert relative_error(torch.from_numpy(actual), expected) < 1e-4


def test_se_pooling_does_not_bake_in_the_input_size(tmp_path):
    backbone = randomize_bn(MobileOne(S4_LIKE, out_indices=(2, 3)), seed=2).eval()
    fused = reparameterize_model(backbone)
    path = str(tmp_path / 'se.onnx')
    names = export_onnx(_Features(fused), torch.randn(1, 3, 64, 64), path, dynamic_spatial=True)
    assert names == ['output_0', 'output_1']
    ops = op_types(path)
    assert 'ReduceMean' in ops and not {'AveragePool', 'GlobalAveragePool'} & ops
    session = get_backend('onnx').load([path])
    for shape in ((1, 3, 64, 64), (2, 3, 96, 80)):
        inputs = torch.randn(*shape)
        check = torch_vs_onnx(_Features(backbone), session, inputs)
        assert check['relative'] < 1e-5, check


class _Features(torch.nn.Module):
    """Backbone features as a tuple of tensors, with output names."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, x):
        return self.backbone(x)

    def output_names(self, num_outputs):
        return [f'output_{i}' for i in range(num_outputs)]


@pytest.mark.slow
def test_ssdlite_export_raw_head_outputs(tmp_path):
    config = f'{ROOT}/configs/ssdlite_mobileone_s0_coco.py'
    model = reparameterize_model(random_checkpoint(config, str(tmp_path / 'ssd.pth'), size=160))
    out = str(tmp_path / 'ssd.onnx')
    result = run_export([config, str(tmp_path / 'ssd.pth'), '--out', out, '--shape', '160',
                         '160', '--verify-batch', '2'])
    levels = len(model.bbox_head.prior_generator.strides)
    assert result.output_names == ([f'cls_score_{i}' for i in range(levels)] +
                                   [f'bbox_pred_{i}' for i in range(levels)])
    # the tool's verification batch; ONNX Runtime is as close to PyTorch as float32 allows
    inputs = check_input(160, 160, batch=2)
    assert 0 < result.max_abs_diff <= 3 * float32_error(tensor_model(model), inputs) + 1e-6
    # the documented post-processing (mmdet's predict_by_feat: anchors, decoding, NMS) on the
    # ONNX outputs gives the PyTorch model's detections
    inputs = torch.randn(1, 3, 160, 160)
    outputs = [torch.from_numpy(a) for a in onnx_outputs(out, inputs)]
    metas = [dict(img_shape=(160, 160), ori_shape=(160, 160), scale_factor=(1.0, 1.0))]
    head = model.bbox_head
    head.test_cfg.score_thr = 0.0  # random weights: keep every candidate
    head.test_cfg.max_per_img = 20
    onnx_dets = head.predict_by_feat(outputs[:levels], outputs[levels:], batch_img_metas=metas,
                                     rescale=False)[0]
    with torch.no_grad():
        cls_scores, bbox_preds = model._forward(inputs)
        torch_dets = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas,
                                          rescale=False)[0]
    assert len(onnx_dets.bboxes) == len(torch_dets.bboxes) == 20
    # near-equal scores of a random network may swap places: match the 10 best by content
    for box, score, label in zip(torch_dets.bboxes[:10], torch_dets.scores[:10],
                                 torch_dets.labels[:10]):
        distance = (onnx_dets.bboxes - box).abs().max(dim=1).values
        distance[onnx_dets.labels != label] = float('inf')
        best = int(distance.argmin())
        assert distance[best] < 1e-2 and abs(onnx_dets.scores[best] - score) < 1e-4


@pytest.mark.slow
def test_deeplabv3_export_dynamic_batch_and_size(tmp_path):
    config = f'{ROOT}/configs/deeplabv3_mobileone_s0_voc.py'
    small_head = {'model.decode_head.channels': 32}
    unfused = tensor_model(random_checkpoint(config, str(tmp_path / 'seg.pth'), small_head,
                                             size=32))
    out = str(tmp_path / 'seg.onnx')
    args = [config, str(tmp_path / 'seg.pth'), '--out', out, '--shape', '32', '32',
            '--cfg-options', 'model.decode_head.channels=32']
    result = run_export(args)
    assert result.output_names == ['seg_logits'] and result.worst_relative < 1e-5
    session = get_backend('onnx').load([out])
    for shape in ((1, 3, 32, 32), (2, 3, 48, 64)):
        inputs = torch.randn(*shape)
        (logits, ) = onnx_outputs(session, inputs)
        assert logits.shape == (shape[0], 21, shape[2], shape[3])
        # fused ONNX against the unfused PyTorch model: float32 accuracy
        check = torch_vs_onnx(unfused, session, inputs)
        assert check['max_abs_diff'] <= 3 * float32_error(unfused, inputs) + 1e-6, check


def test_export_rejects_unknown_task(tmp_path):
    config = Config.fromstring(CLASSIFIER_CFG, '.py')
    model = init_model(config, None, fuse=True)
    with pytest.raises(ConfigError, match='unknown task'):
        tensor_model(model, 'keypoints')
