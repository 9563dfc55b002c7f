"""The config is the experiment (issue 18, items 1 and 4).

* Every shipped config declares mmmobileone's safeguards itself: ``Runner.from_cfg(
  Config.fromfile(c))`` and ``tools/train.py c`` / ``tools/test.py c CKPT`` build the same hooks,
  datasets, pipelines and metrics (config-level types for every config; one real Runner build
  of the quickstart config on generated data).
* ``tools/train.py`` and ``tools/test.py`` rewrite nothing: a user's config without the
  safeguards runs as written and gets one warning line naming the base to inherit.
* The tools print one line for an :class:`~mmmobileone.errors.MMMobileOneError` and keep the
  traceback of anything else (a host ``ValueError`` included); every tool goes through
  ``run_tool``.
"""
import ast
import copy
import glob
import importlib.util
import logging
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import cls_config, make_cls_data, write_config
from mmengine.config import Config

from mmmobileone.engine.config_tree import iter_config_dicts
from mmmobileone.engine.safeguards import (DATA_KEYS, SAFEGUARD_HOOKS, SAFEGUARDS_BASE,
                                           missing_safeguards, type_name)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)
QUICKSTART = osp.join(ROOT, 'configs', 'quickstart', 'ssdlite_mobileone_mu1_synthetic.py')
QUICKSTART_CLASSES = ('umbrella', 'sports ball', 'pizza', 'book')


def experiment_types(cfg) -> dict:
    """What a run is made of, by type: hooks (by ``default_hooks`` name, then the
    ``custom_hooks`` list), every type in the data loaders (datasets, pipelines, samplers) and
    the evaluators, with the module that registers mmmobileone's types."""
    default_hooks = {name: type_name(hook['type'])
                     for name, hook in dict(cfg.get('default_hooks') or {}).items() if hook}
    custom_hooks = [type_name(hook['type']) for hook in cfg.get('custom_hooks') or []]
    data = {key: sorted((where, type_name(node['type']))
                        for where, node in iter_config_dicts(cfg.get(key), key) if 'type' in node)
            for key in DATA_KEYS}
    return dict(default_hooks=default_hooks, custom_hooks=custom_hooks, data=data,
                imports=sorted((cfg.get('custom_imports') or {}).get('imports') or []))


@pytest.fixture(scope='module')
def shipped():
    return {path: Config.fromfile(path) for path in CONFIGS}


@pytest.fixture(scope='module')
def empty_checkpoint(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('ckpt') / 'empty.pth')
    torch.save(dict(state_dict={}), path)
    return path


def test_every_shipped_config_is_covered():
    assert len(CONFIGS) > 40
    for folder in ('quickstart', 'custom'):
        assert any(f'/configs/{folder}/' in p for p in CONFIGS), folder


@pytest.mark.slow
def test_every_shipped_config_declares_the_safeguards(shipped):
    """The safeguards are in the config: nothing for a tool to add."""
    for path, cfg in shipped.items():
        assert missing_safeguards(cfg) == [], path
        hooks = experiment_types(cfg)['default_hooks']
        assert hooks['checkpoint'] == 'SafeCheckpointHook', path
        assert set(SAFEGUARD_HOOKS) <= set(hooks.values()), path
        assert 'mmmobileone.integrations.mmcv' in cfg.custom_imports['imports'], path
        if cfg.default_scope == 'mmdet':
            data = str(experiment_types(cfg)['data'])
            assert "'CocoDataset'" in data and "'CocoMetric'" in data, path
            assert cfg.train_dataloader.dataset.type == 'mmmobileone.CocoDataset', path
            assert str(cfg.val_evaluator.type) == 'mmmobileone.CocoMetric', path


@pytest.mark.slow
def test_tools_build_the_same_experiment_as_a_plain_config(shipped, empty_checkpoint, tmp_path):
    """``tools/train.py`` / ``tools/test.py`` merge only their flags into ``Config.fromfile``."""
    from mmmobileone.apis import load_config
    from tools import test as test_tool
    from tools import train as train_tool
    assert load_config(QUICKSTART).to_dict() == Config.fromfile(QUICKSTART).to_dict()
    for path, plain in shipped.items():
        expected = experiment_types(plain)
        args = train_tool.parse_args([path, '--work-dir', str(tmp_path / 'train')])
        trained = train_tool.merge_args(copy.deepcopy(plain), args)
        assert experiment_types(trained) == expected, path
        args = test_tool.parse_args([path, empty_checkpoint, '--work-dir', str(tmp_path / 't')])
        tested = test_tool.merge_args(copy.deepcopy(plain), args)
        assert experiment_types(tested) == expected, path
        # and nothing else changed either: only the keys the flags name
        changed = {k for k in set(plain) | set(trained) if plain.get(k) != trained.get(k)}
        assert changed <= {'work_dir', 'launcher'}, (path, changed)


@pytest.mark.slow
def test_quickstart_runner_is_the_same_both_ways(tmp_path, monkeypatch):
    """A real Runner: ``Runner.from_cfg(Config.fromfile(c))`` vs ``tools/train.py``'s."""
    from mmengine.runner import Runner

    from mmmobileone.datasets.synthetic import generate_coco
    from tools.quickstart import _data_options
    from tools.train import prepare
    monkeypatch.chdir(tmp_path)
    data_root = str(tmp_path / 'coco')
    generate_coco(data_root, num_train=4, num_val=2, classes=QUICKSTART_CLASSES,
                  image_size=64)
    options = _data_options(data_root)

    def built(runner, cfg):
        loader = runner.build_dataloader(cfg.train_dataloader)
        val_loader = runner.build_dataloader(cfg.val_dataloader)
        dataset = loader.dataset
        return dict(
            hooks=[type(hook).__name__ for hook in runner.hooks],
            dataset=f'{type(dataset).__module__}.{type(dataset).__name__}',
            val_dataset=type(val_loader.dataset).__module__,
            pipeline=[type(t).__name__ for t in dataset.pipeline.transforms],
            load_image=type(dataset.pipeline.transforms[0]).__module__,
            metrics=[f'{type(m).__module__}.{type(m).__name__}'
                     for m in runner.build_evaluator(cfg.val_evaluator).metrics])

    plain = Config.fromfile(QUICKSTART)
    plain.merge_from_dict(dict(o.split('=', 1) for o in options))
    plain.work_dir, plain.experiment_name = str(tmp_path / 'plain'), 'plain'
    plain_runner = Runner.from_cfg(plain)
    tool_cfg = prepare([QUICKSTART, '--work-dir', str(tmp_path / 'tool'), '--cfg-options',
                        *options, 'experiment_name=tool'])
    tool_runner = Runner.from_cfg(tool_cfg)
    ours = built(plain_runner, plain)
    assert ours == built(tool_runner, tool_cfg)
    for hook in ('SafeCheckpointHook', 'FiniteLossHook', 'EpochSeedHook',
                 'PretrainedInitCheckHook', 'ReparamHook'):
        assert hook in ours['hooks']
    assert 'CheckpointHook' not in ours['hooks']
    assert ours['dataset'] == 'mmmobileone.integrations.mmdet.coco.CocoDataset'
    assert ours['val_dataset'] == 'mmmobileone.integrations.mmdet.coco'
    assert ours['load_image'] == 'mmmobileone.integrations.mmcv.loading'
    assert ours['metrics'] == ['mmmobileone.integrations.mmdet.coco.CocoMetric']


FORBIDDEN_IN_TOOLS = ('use_checked_dropins', 'add_training_safeguards', 'check_pretrained_inits',
                      'SafeCheckpointHook', 'FiniteLossHook', 'EpochSeedHook', 'LoadImageFromFile',
                      'CocoDataset', 'CocoMetric', 'custom_hooks', 'default_hooks',
                      'custom_imports')


def _code_words(source: str) -> set:
    """Names, attributes and string constants of a module, docstrings left out."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    words = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docstrings):
            words.add(node.value)
    return words


@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_train_and_test_tools_rewrite_no_config(tool):
    words = _code_words(open(osp.join(ROOT, 'tools', tool)).read())
    for word in FORBIDDEN_IN_TOOLS:
        assert not any(word in w for w in words), f'tools/{tool} uses {word}'
    # the old rewriting helpers are gone, not merely unused
    assert importlib.util.find_spec('mmmobileone.datasets.checked') is None
    assert importlib.util.find_spec('mmmobileone.engine.runner') is None


def test_a_config_without_the_safeguards_runs_as_written_with_one_hint(tmp_path, caplog):
    from tools.train import prepare
    data_root = make_cls_data(str(tmp_path / 'data'))
    cfg = cls_config(data_root, str(tmp_path / 'work'))
    cfg['default_hooks'] = dict(checkpoint=dict(type='CheckpointHook', interval=1))
    cfg['custom_imports'] = dict(imports=['mmmobileone'], allow_failed_imports=False)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key]['dataset']['pipeline'][0]['type'] = 'LoadImageFromFile'
    config = write_config(cfg, str(tmp_path / 'user.py'))
    with caplog.at_level(logging.WARNING, logger='mmmobileone'):
        prepared = prepare([config])
    assert experiment_types(prepared) == experiment_types(Config.fromfile(config))
    hints = [r.getMessage() for r in caplog.records if 'run-time safeguards' in r.getMessage()]
    assert len(hints) == 1 and '\n' not in hints[0]
    assert SAFEGUARDS_BASE in hints[0]
    for name in ('FiniteLossHook', 'EpochSeedHook', 'SafeCheckpointHook',
                 'train_dataloader.dataset.pipeline.0 (LoadImageFromFile)'):
        assert name in hints[0]


def _run_tool_process(body: str, *flags: str) -> subprocess.CompletedProcess:
    code = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {ROOT!r})
        from tools.common import run_tool

        def main(argv):
            {body}

        sys.exit(run_tool(main, sys.argv[1:]))
    ''')
    return subprocess.run([sys.executable, '-c', code, *flags], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow
def test_a_host_value_error_keeps_its_traceback():
    result = _run_tool_process("raise ValueError('host library: bad state')")
    assert result.returncode != 0
    assert 'Traceback (most recent call last)' in result.stderr
    assert 'ValueError: host library: bad state' in result.stderr


@pytest.mark.slow
def test_a_project_error_is_one_line_and_exit_1():
    result = _run_tool_process(
        "from mmmobileone.errors import ConfigError\n"
        "            raise ConfigError('--out must be a .pkl file, got \\'x.txt\\'')")
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    lines = [line for line in result.stderr.splitlines() if 'ERROR' in line]
    assert len(lines) == 1 and "--out must be a .pkl file, got 'x.txt'" in lines[0]
    debug = _run_tool_process(
        "from mmmobileone.errors import ConfigError\n"
        "            raise ConfigError('bad')", '--debug')
    assert debug.returncode == 1 and 'Traceback' in debug.stderr


def test_project_errors_keep_their_builtin_bases():
    from mmmobileone.converters.rename import ConversionError
    from mmmobileone.engine.hooks.checkpoint_hook import TrainingDivergedError
    from mmmobileone.engine.pretrained import IncompletePretrainedError
    from mmmobileone.errors import CheckpointError, MMMobileOneError, WriteError
    from mmmobileone.fileio import CheckpointWriteError
    from mmmobileone.integrations.mmcv import UnreadableImageError
    for error, builtin in ((ConversionError, ValueError), (IncompletePretrainedError, ValueError),
                           (TrainingDivergedError, ValueError), (CheckpointWriteError, OSError),
                           (UnreadableImageError, OSError)):
        assert issubclass(error, MMMobileOneError) and issubclass(error, builtin), error
    assert issubclass(ConversionError, CheckpointError)
    assert issubclass(IncompletePretrainedError, CheckpointError)
    assert issubclass(CheckpointWriteError, WriteError)


def test_every_tool_goes_through_run_tool():
    """Each command-line script (with a ``__main__`` block) calls ``run_tool``, directly or
    through the ``main`` of the tool module it imports."""
    tools = [p for p in glob.glob(osp.join(ROOT, 'tools', '**', '*.py'), recursive=True)
             if "if __name__ == '__main__':" in open(p).read()]
    assert len(tools) >= 10
    for path in tools:
        source = open(path).read()
        if 'run_tool' in source:
            continue
        tree = ast.parse(source)
        imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.module and node.module.startswith('tools.')
                    and any(alias.name == 'main' for alias in node.names)]
        assert imported, f'{path} does not use tools.common.run_tool'
        for module in imported:
            target = osp.join(ROOT, *module.split('.')) + '.py'
            assert 'run_tool' in open(target).read(), (path, module)
