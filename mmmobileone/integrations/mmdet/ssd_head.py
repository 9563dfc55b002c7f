"""An SSD head that can predict: the fix for mmdet 3.3.0's ``SSDHead``.

mmdet 3.3.0's ``SSDHead.__init__`` skips ``AnchorHead.__init__`` and never sets ``loss_cls``,
but the shared prediction code (``BaseDenseHead._predict_by_feat_single``) reads
``self.loss_cls``; validation, testing and demos therefore fail with ``AttributeError: 'SSDHead'
object has no attribute 'loss_cls'`` (open-mmlab/mmdetection issues 11063 and 11780).
"""
import warnings

from mmdet.models.dense_heads import SSDHead
from mmdet.registry import MODELS as MMDET_MODELS

from ...registry import MODELS


@MODELS.register_module()
class FixedSSDHead(SSDHead):
    """mmdet's :class:`~mmdet.models.dense_heads.SSDHead` with ``loss_cls`` set, so it predicts.

    Takes exactly ``SSDHead``'s arguments (``use_depthwise=True`` gives the SSDLite head of
    separable convolutions). ``loss_cls`` describes what SSD trains with, a softmax cross
    entropy over the classes plus background; the loss itself is still computed by
    ``SSDHead.loss_by_feat_single`` (hard negative mining), so training is unchanged. The
    loss module holds no parameters or buffers: state dicts equal ``SSDHead``'s.

    Use it in configs as ``bbox_head=dict(type='mmmobileone.FixedSSDHead', ...)`` with
    ``'mmmobileone.integrations.mmdet'`` in ``custom_imports``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.loss_cls = MMDET_MODELS.build(
            dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))


@MODELS.register_module()
class SSDLiteHead(FixedSSDHead):
    """Deprecated name of :class:`FixedSSDHead` (it is mmdet's SSDHead, fixed; the SSDLite form
    comes from ``use_depthwise=True``). Kept so that existing configs still build."""

    def __init__(self, *args, **kwargs) -> None:
        warnings.warn("type='mmmobileone.SSDLiteHead' is deprecated: use "
                      "'mmmobileone.FixedSSDHead' (same arguments, same weights)",
                      DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)
