"""Version guards for the host internals mmmobileone relies on (issue 18, item 2).

mmengine 0.10.7 has no public extension point for the order of a checkpoint save (its
``CheckpointHook`` removes the retired checkpoint *before* writing the new one), so
``mmmobileone.SafeCheckpointHook`` overrides two private methods; the demo's inferencers replace
``BaseInferencer._init_model`` and set mmpretrain's ``model._config``; the opt-in
``mmmobileone.apis.register_model_names()`` replaces ``BaseInferencer._load_model_from_metafile``
(mmdet's and mmseg's inferencers resolve model names there). Each of those is recorded
here with a hash of the host source it was written against: when a pinned host version changes
one of them, this test fails and names it, so the override is re-read before it silently
diverges.
"""
import hashlib
import inspect

import pytest

#: (dotted name, host package, version written against, sha256 of the source, first 16 chars)
RECORDED = [
    ('mmengine.hooks.CheckpointHook._save_checkpoint_with_step', 'mmengine', '0.10.7',
     'cdbc1b54c7c88d95'),
    ('mmengine.hooks.CheckpointHook._save_best_checkpoint', 'mmengine', '0.10.7',
     '8e1e477297ea08d7'),
    ('mmengine.infer.BaseInferencer._init_model', 'mmengine', '0.10.7', 'a60060d85e023a7e'),
    ('mmengine.infer.BaseInferencer._load_model_from_metafile', 'mmengine', '0.10.7',
     '425e18d8b64dc880'),
]


def _resolve(dotted: str):
    module, _, rest = dotted.partition('.')
    obj = __import__(module)
    for part in dotted.split('.')[1:]:
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = __import__(f'{obj.__name__}.{part}', fromlist=[part])
    return inspect.unwrap(obj)  # the host's own method, also while our override wraps it


@pytest.mark.parametrize('dotted,package,version,digest', RECORDED, ids=[r[0] for r in RECORDED])
def test_overridden_host_method_is_the_recorded_one(dotted, package, version, digest):
    host = __import__(package)
    method = _resolve(dotted)
    actual = hashlib.sha256(inspect.getsource(method).encode()).hexdigest()[:16]
    assert actual == digest, (
        f'{dotted} of {package} {host.__version__} differs from the {package} {version} source '
        f'mmmobileone overrides (sha256 {actual} != {digest}): re-read the override '
        '(mmmobileone/engine/hooks/checkpoint_hook.py, mmmobileone/apis/inference.py, '
        'mmmobileone/apis/host_names.py), then '
        'update RECORDED')


def test_safe_checkpoint_hook_overrides_exactly_the_recorded_methods():
    """The only private CheckpointHook methods SafeCheckpointHook replaces are recorded ones."""
    from mmengine.hooks import CheckpointHook

    from mmmobileone.engine.hooks.checkpoint_hook import SafeCheckpointHook
    overridden = {name for name, value in vars(SafeCheckpointHook).items()
                  if name.startswith('_') and not name.startswith('__')
                  and hasattr(CheckpointHook, name) and callable(value)}
    recorded = {r[0].rsplit('.', 1)[1] for r in RECORDED if '.CheckpointHook.' in r[0]}
    assert overridden == recorded


def test_mmpretrain_inferencer_still_reads_model_config():
    """mmmobileone.apis.inference sets ``model._config`` because mmpretrain 1.2.0's inferencer
    reads the config of a model instance from there."""
    from mmpretrain.apis import base
    assert 'self.config = model._config' in inspect.getsource(base.BaseInferencer.__init__)


def test_demo_inferencers_inherit_the_recorded_init_model():
    """The demo's ``type('Fused...Inferencer', (_PrebuiltModel, Host), {})`` classes replace
    ``_init_model`` of mmdet's and mmseg's inferencers, which must still be mmengine's recorded
    ``BaseInferencer._init_model`` (neither host overrides it in the pinned versions)."""
    from mmdet.apis import DetInferencer
    from mmengine.infer import BaseInferencer
    from mmseg.apis import MMSegInferencer
    for host in (DetInferencer, MMSegInferencer):
        assert host._init_model is BaseInferencer._init_model, host


def test_host_inferencers_inherit_the_recorded_load_model_from_metafile():
    """``register_model_names()`` replaces mmengine's ``BaseInferencer._load_model_from_metafile``;
    mmdet's and mmseg's inferencers must still inherit it (else they would not see our names)."""
    from mmdet.apis import DetInferencer
    from mmengine.infer import BaseInferencer
    from mmseg.apis import MMSegInferencer

    from mmmobileone.apis.host_names import OVERRIDDEN
    assert OVERRIDDEN in [r[0] for r in RECORDED]
    for host in (DetInferencer, MMSegInferencer):
        owners = [c for c in host.__mro__ if '_load_model_from_metafile' in vars(c)]
        assert owners == [BaseInferencer], host
