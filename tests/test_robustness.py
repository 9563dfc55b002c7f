"""Training that survives crashes, full disks, bad checkpoints and divergence (issue 11).

Real ``tools/train.py`` processes where a signal or a full disk is the point: ``kill -9``
mid-epoch and mid-save, a work dir on a small tmpfs that fills up (where mounting is not
possible, writes fail with an injected ``ENOSPC``). The rest runs the tools' entry points in
this process. Faults come from ``robustness_faults.RobustnessFaultHook``.
"""
import argparse
import contextlib
import copy
import logging
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT
from helpers import cls_config, make_cls_data, small_run_options, write_config

from mmmobileone.fileio import load_checkpoint
from tools.model_converters import reparameterize as reparameterize_tool
from tools.test import main as main_test
from tools.train import main as main_train

TESTS = osp.dirname(osp.abspath(__file__))
FAULT = 'MMMOBILEONE_TEST_FAULT'
FAULT_HOOK = dict(type='RobustnessFaultHook')
SCRIPT_TIMEOUT = 300


def _config(data_root, work_dir, path, max_epochs=2, workers=0, keep=-1, seed=None):
    cfg = cls_config(data_root, work_dir, max_epochs=max_epochs, extra_hooks=[FAULT_HOOK])
    cfg['custom_imports']['imports'].append('robustness_faults')
    cfg['default_hooks']['checkpoint']['max_keep_ckpts'] = keep
    cfg['randomness'] = dict(seed=seed)  # the shipped configs' default: a random seed per run
    cfg['train_dataloader'].update(num_workers=workers, persistent_workers=False)
    return write_config(cfg, path)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_cls_data(str(tmp_path_factory.mktemp('robust') / 'data'), per_class=2)


@pytest.fixture(scope='module')
def trained(data_root, tmp_path_factory):
    """2 epochs in this process under umask 022 (6 images, batch 4: 2 iterations an epoch)."""
    root = tmp_path_factory.mktemp('trained')
    config = _config(data_root, str(root / 'unused'), str(root / 'cfg.py'))
    work_dir = str(root / 'work')
    old = os.umask(0o022)
    try:
        assert main_train([config, '--work-dir', work_dir]) == 0
    finally:
        os.umask(old)
    return dict(root=root, config=config, work_dir=work_dir,
                epoch1=osp.join(work_dir, 'epoch_1.pth'), epoch2=osp.join(work_dir, 'epoch_2.pth'),
                deploy=osp.join(work_dir, 'deploy.pth'))


def _env(fault=None):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join([TESTS, ROOT]))
    env.pop(FAULT, None)
    if fault:
        env[FAULT] = fault
    return env


def _train_script(args, fault=None, **kwargs):
    return subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'), *args],
                          env=_env(fault), capture_output=True, text=True,
                          timeout=SCRIPT_TIMEOUT, **kwargs)


def _kill_when_paused(args, fault, marker):
    """Start tools/train.py, wait until the fault hook pauses it, ``kill -9`` it."""
    process = subprocess.Popen([sys.executable, osp.join(ROOT, 'tools', 'train.py'), *args],
                               env=_env(fault), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + SCRIPT_TIMEOUT
    while not osp.exists(marker):
        if process.poll() is not None:
            pytest.fail(f'training ended before the fault ({process.returncode}): '
                        f'{process.stderr.read()[-3000:]}')
        assert time.time() < deadline, 'the fault hook never paused training'
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    os.remove(marker)


def _errors(text):
    return [line for line in text.splitlines() if ' - ERROR - ' in line]


def _one_error(caplog):
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert '\n' not in errors[0]
    return errors[0]


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def _assert_bitwise(actual_path, expected_path, parts=('state_dict', 'ema_state_dict')):
    actual, expected = torch.load(actual_path), torch.load(expected_path)
    worst = 0.0
    for part in parts:
        assert actual[part].keys() == expected[part].keys()
        for key, value in expected[part].items():
            if value.is_floating_point():
                worst = max(worst, (actual[part][key] - value).abs().max().item())
            else:
                assert torch.equal(actual[part][key], value), key
    assert worst == 0.0, f'max abs difference {worst:g}'


def _last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


@contextlib.contextmanager
def small_disk(path, size='2m'):
    """A tmpfs of ``size`` at ``path`` (root only); ``None`` where mounting is not possible."""
    os.makedirs(path)
    mounted = os.geteuid() == 0 and subprocess.run(
        ['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', path],
        capture_output=True).returncode == 0
    try:
        yield path if mounted else None
    finally:
        if mounted:
            subprocess.run(['umount', '-l', path], check=False)


# -- 1 + 2 + 3: kill -9 mid-epoch and mid-save, resume, same weights as without the kills --

@pytest.mark.slow
def test_kill_mid_epoch_and_mid_save_then_resume_is_bitwise(data_root, tmp_path):
    """max_keep_ckpts=1 (the quickstart), 2 data workers, a random seed, 3 epochs.

    Killed in epoch 2, resumed, killed again while saving epoch 2 (when mmengine's
    CheckpointHook has already deleted epoch_1.pth), resumed to the end: the final checkpoint
    and deploy.pth equal, bit for bit, those of an uninterrupted run with the same seed.
    """
    config = _config(data_root, str(tmp_path / 'unused'), str(tmp_path / 'cfg.py'),
                     max_epochs=3, workers=2, keep=1)
    work_dir = str(tmp_path / 'work')
    marker = str(tmp_path / 'paused')
    _kill_when_paused([config, '--work-dir', work_dir], f'pause_iter:2:1:{marker}', marker)
    epoch1 = osp.join(work_dir, 'epoch_1.pth')
    assert _last_checkpoint(work_dir) == epoch1 and load_checkpoint(epoch1)

    _kill_when_paused([config, '--work-dir', work_dir, '--resume'], f'pause_save:2:{marker}',
                      marker)
    assert _last_checkpoint(work_dir) == epoch1  # the previous state is intact
    load_checkpoint(epoch1)
    assert not osp.exists(osp.join(work_dir, 'epoch_2.pth'))

    resumed = _train_script([config, '--work-dir', work_dir, '--resume'])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f'resuming from {epoch1}' in resumed.stderr
    assert sorted(n for n in os.listdir(work_dir) if n.endswith('.pth')) == [
        'deploy.pth', 'epoch_3.pth']  # max_keep_ckpts=1 still holds
    assert not [n for n in os.listdir(work_dir) if n.endswith('.part')]

    seed = torch.load(osp.join(work_dir, 'epoch_3.pth'))['meta']['seed']
    straight = str(tmp_path / 'straight')
    result = _train_script([config, '--work-dir', straight, '--cfg-options',
                            f'randomness.seed={seed}'])
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_bitwise(osp.join(work_dir, 'epoch_3.pth'), osp.join(straight, 'epoch_3.pth'))
    _assert_bitwise(osp.join(work_dir, 'deploy.pth'), osp.join(straight, 'deploy.pth'),
                    parts=('state_dict', ))


def test_resume_in_process_is_bitwise_without_workers(trained, tmp_path, caplog):
    """num_workers=0 with a random flip: the main process draws the augmentations. A copy of
    epoch_1.pth alone (no last_checkpoint), a config without a seed: ``--resume`` finds it,
    takes its seed and repeats epoch 2 exactly."""
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    shutil.copy(trained['epoch1'], work_dir / 'epoch_1.pth')
    assert main_train([trained['config'], '--work-dir', str(work_dir), '--resume']) == 0
    _assert_bitwise(str(work_dir / 'epoch_2.pth'), trained['epoch2'])


def test_persistent_workers_warn_that_resume_is_not_exact(trained, caplog):
    from tools.train import prepare
    prepare([trained['config'], '--cfg-options', 'train_dataloader.num_workers=2',
             'train_dataloader.persistent_workers=True'])
    assert any('persistent_workers=True' in w and 'What survives what' in w
               for w in _warnings(caplog))
    caplog.clear()
    prepare([trained['config']])
    assert not any('will not repeat' in w for w in _warnings(caplog))
    caplog.clear()  # per-sample seeds: persistent workers keep no random state that matters
    prepare([trained['config'], '--cfg-options', 'train_dataloader.num_workers=2',
             'train_dataloader.persistent_workers=True',
             'train_dataloader.sampler.type=mmmobileone.SeededSampler'])
    assert not any('will not repeat' in w for w in _warnings(caplog))


@pytest.mark.slow
def test_every_shipped_training_config_declares_a_seeded_sampler():
    """resume_caveats is empty for every shipped config (persistent workers and iteration-based
    loops included) because each declares a seeded sampler; mmengine's samplers would not do."""
    import glob

    from mmengine.config import Config

    from mmmobileone.engine.resume import resume_caveats
    paths = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                   if '_base_' not in p)
    assert len(paths) > 40
    kinds = set()
    for path in paths:
        cfg = Config.fromfile(path)
        assert resume_caveats(cfg) == [], path
        loader = cfg.train_dataloader
        by_iter = 'max_iters' in cfg.train_cfg
        persistent = bool(loader.num_workers and loader.persistent_workers)
        kinds.add((loader.sampler.type, by_iter, persistent))
        loader.sampler.type = 'InfiniteSampler' if by_iter else 'DefaultSampler'
        if by_iter or persistent:  # mmengine's own sampler would not resume exactly
            assert resume_caveats(cfg), path
    assert kinds >= {('mmmobileone.SeededSampler', False, True),
                     ('mmmobileone.SeededInfiniteSampler', True, True)}


# -- 1: a full disk while saving --

@pytest.mark.slow
def test_full_disk_while_saving_keeps_previous_checkpoint(data_root, tmp_path):
    with small_disk(str(tmp_path / 'disk')) as disk:
        root = disk or str(tmp_path / 'disk')
        config = _config(data_root, str(tmp_path / 'unused'), str(tmp_path / 'cfg.py'), keep=1)
        work_dir = osp.join(root, 'work')
        filler = osp.join(root, 'filler') if disk else 'inject'
        result = _train_script([config, '--work-dir', work_dir], f'fill_disk:2:{filler}')
        assert result.returncode == 1, result.stderr[-3000:]
        assert 'Traceback' not in result.stderr
        errors = _errors(result.stderr)
        assert len(errors) == 1, errors
        assert 'epoch_2.pth' in errors[0] and 'no space left on device' in errors[0]
        epoch1 = osp.join(work_dir, 'epoch_1.pth')
        assert _last_checkpoint(work_dir) == epoch1
        load_checkpoint(epoch1)
        names = os.listdir(work_dir)
        assert 'epoch_2.pth' not in names and not [n for n in names if n.endswith('.part')]

        if disk:
            os.remove(filler)
        resumed = _train_script([config, '--work-dir', work_dir, '--resume'])
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert load_checkpoint(osp.join(work_dir, 'epoch_2.pth'))['meta']['epoch'] == 2


def test_full_disk_for_deploy_and_converter_is_one_line(trained, tmp_path, caplog,
                                                        monkeypatch):
    with small_disk(str(tmp_path / 'disk')) as disk:
        if disk is None:
            pytest.skip('cannot mount a tmpfs here (the checkpoint test injects ENOSPC)')
        work_dir = osp.join(disk, 'work')
        os.makedirs(work_dir)
        shutil.copy(trained['epoch1'], osp.join(work_dir, 'epoch_1.pth'))
        filler = osp.join(disk, 'filler')
        monkeypatch.setenv(FAULT, f'fill_disk_end:{filler}')
        assert main_train([trained['config'], '--work-dir', work_dir, '--resume']) == 1
        message = _one_error(caplog)
        assert 'deploy.pth' in message and 'no space left on device' in message
        assert not [n for n in os.listdir(work_dir) if 'deploy' in n]
        assert load_checkpoint(osp.join(work_dir, 'epoch_2.pth'))  # written before the fill

        caplog.clear()
        out = osp.join(disk, 'converted.pth')
        assert reparameterize_tool.main([trained['config'], trained['epoch2'], out, '--shape',
                                         '32', '32']) == 1
        message = _one_error(caplog)
        assert 'converted.pth' in message and 'no space left on device' in message
        assert not [n for n in os.listdir(disk) if 'converted' in n]


# -- 3: bare --resume checks the checkpoints --

def test_resume_falls_back_from_a_truncated_latest_checkpoint(trained, tmp_path, caplog):
    work_dir = str(tmp_path / 'work')
    shutil.copytree(trained['work_dir'], work_dir)
    latest = osp.join(work_dir, 'epoch_2.pth')
    with open(latest, 'r+b') as f:
        f.truncate(os.path.getsize(latest) // 2)
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(latest)
    stale = osp.join(work_dir, '.epoch_3.pth.k2x9_q0a.part')  # left by a kill during a save
    with open(stale, 'wb') as f:
        f.write(b'partial')
    assert main_train([trained['config'], '--work-dir', work_dir, '--resume', '--cfg-options',
                       'train_cfg.max_epochs=3']) == 0
    warnings = _warnings(caplog)
    assert any('skipping' in w and 'epoch_2.pth' in w and 'truncated' in w for w in warnings)
    assert any(f'newest readable one, {osp.join(work_dir, "epoch_1.pth")}' in w
               for w in warnings)
    assert load_checkpoint(osp.join(work_dir, 'epoch_3.pth'))['meta']['epoch'] == 3
    assert not osp.exists(stale)
    logs = [osp.join(folder, name) for folder, _, names in os.walk(work_dir) for name in names
            if name.endswith('.log')]
    assert any('.epoch_3.pth.k2x9_q0a.part' in open(log).read() for log in logs)  # the warning


def test_resume_with_nothing_to_resume_says_so(trained, tmp_path, caplog):
    work_dir = str(tmp_path / 'empty')
    assert main_train([trained['config'], '--work-dir', work_dir, '--resume', '--cfg-options',
                       'train_cfg.max_epochs=1']) == 0
    assert any('nothing to resume' in w and 'from scratch' in w for w in _warnings(caplog))


def test_resume_with_only_unreadable_checkpoints_stops(trained, tmp_path, caplog):
    work_dir = tmp_path / 'bad'
    work_dir.mkdir()
    (work_dir / 'epoch_1.pth').write_bytes(b'')
    (work_dir / 'epoch_2.pth').write_bytes(b'not a checkpoint' * 10)
    assert main_train([trained['config'], '--work-dir', str(work_dir), '--resume']) == 1
    message = _one_error(caplog)
    assert 'no readable checkpoint' in message and 'epoch_2.pth' in message


# -- 4: divergence --

def test_divergence_stops_before_any_checkpoint(trained, tmp_path, caplog):
    work_dir = str(tmp_path / 'work')
    assert main_train([trained['config'], '--work-dir', work_dir, '--cfg-options',
                       'optim_wrapper.optimizer.lr=1e12', 'train_cfg.max_epochs=4']) == 1
    message = _one_error(caplog)
    assert 'non-finite loss at iteration' in message and 'lr 1e+12' in message
    assert not [n for n in os.listdir(work_dir) if n.endswith('.pth')]


@pytest.mark.slow
def test_non_finite_weights_are_never_saved(trained, tmp_path, caplog, monkeypatch):
    work_dir = str(tmp_path / 'work')
    monkeypatch.setenv(FAULT, 'nan_weights:2')
    assert main_train([trained['config'], '--work-dir', work_dir]) == 1
    message = _one_error(caplog)
    assert 'refusing to write epoch_2.pth' in message and 'not finite' in message
    assert _last_checkpoint(work_dir) == osp.join(work_dir, 'epoch_1.pth')
    assert sorted(n for n in os.listdir(work_dir) if n.endswith('.pth')) == ['epoch_1.pth']

    caplog.clear()
    monkeypatch.setenv(FAULT, 'nan_end')
    assert main_train([trained['config'], '--work-dir', str(tmp_path / 'end')]) == 1
    message = _one_error(caplog)
    assert 'non-finite weights' in message and 'deployed checkpoint' in message
    assert not osp.exists(tmp_path / 'end' / 'deploy.pth')


# -- 6: user errors of the real scripts --

@pytest.mark.slow
def test_scripts_report_user_errors_in_one_line(trained, tmp_path):
    bad_arch = _config_with(trained, tmp_path, 'arch', 'nope')
    result = _train_script([bad_arch, '--work-dir', str(tmp_path / 'w')])
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    errors = _errors(result.stderr)
    assert len(errors) == 1 and "unknown MobileOne arch 'nope'" in errors[0], errors

    debug = _train_script([bad_arch, '--work-dir', str(tmp_path / 'w'), '--debug'])
    assert debug.returncode != 0 and 'Traceback' in debug.stderr
    assert "unknown MobileOne arch 'nope'" in debug.stderr.strip().splitlines()[-1]

    bad_indices = _config_with(trained, tmp_path, 'out_indices', (7, ))
    result = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'test.py'), bad_indices,
                             trained['epoch2'], '--work-dir', str(tmp_path / 't')],
                            env=_env(), capture_output=True, text=True, timeout=SCRIPT_TIMEOUT)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    errors = _errors(result.stderr)
    assert len(errors) == 1 and 'out_indices' in errors[0], errors


def _config_with(trained, tmp_path, key, value):
    from mmengine.config import Config
    cfg = Config.fromfile(trained['config']).to_dict()
    cfg = copy.deepcopy(cfg)
    cfg['model']['backbone'][key] = value
    return write_config(cfg, str(tmp_path / f'bad_{key}.py'))


# -- 7: permissions and crafted checkpoints --

@pytest.mark.parametrize('umask', [0o022, 0o077])
def test_written_files_follow_the_umask(umask, data_root, tmp_path):
    """Checkpoints, ``last_checkpoint``, ``deploy.pth`` and the converter's output get exactly the
    mode ``open()`` gives under the umask, ``0o666 & ~umask`` (0o644, 0o600): two umasks, so
    neither a fixed mode nor the temporary file's own 0o600 passes both."""
    config = _config(data_root, str(tmp_path / 'unused'), str(tmp_path / 'cfg.py'),
                     max_epochs=1)
    work_dir, out = str(tmp_path / 'work'), str(tmp_path / 'converted.pth')
    old = os.umask(umask)
    try:
        assert main_train([config, '--work-dir', work_dir]) == 0
        assert reparameterize_tool.main([config, osp.join(work_dir, 'epoch_1.pth'), out,
                                         '--shape', '32', '32']) == 0
    finally:
        os.umask(old)
    names = ('epoch_1.pth', 'deploy.pth', 'last_checkpoint')
    paths = [osp.join(work_dir, name) for name in names] + [out]
    modes = {path: oct(os.stat(path).st_mode & 0o777) for path in paths}
    assert modes == {path: oct(0o666 & ~umask) for path in paths}


def test_crafted_checkpoint_is_refused_by_name(trained, tmp_path, caplog):
    checkpoint = torch.load(trained['epoch2'])
    checkpoint['meta']['payload'] = argparse.Namespace(run='anything')
    crafted = str(tmp_path / 'crafted.pth')
    torch.save(checkpoint, crafted)
    assert main_test([trained['config'], crafted]) == 1
    message = _one_error(caplog)
    assert 'argparse.Namespace' in message and 'weights_only' not in message
    assert 'crafted.pth' in message


# -- exact resume of the shipped recipes: kill -9 mid-epoch / mid-stream, --resume --


def _shipped_with_faults(name, path):
    """The shipped config ``name`` with the fault hook added, written to ``path``."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, 'configs', f'{name}.py')).to_dict()
    cfg['custom_imports']['imports'].append('robustness_faults')
    cfg['custom_hooks'] = list(cfg.get('custom_hooks') or []) + [FAULT_HOOK]
    return write_config(cfg, path)


def _kill_resume_and_compare(tmp_path, config, options, fault, checkpoint):
    """Kill tools/train.py with ``fault``, ``--resume`` it to the end, then train once without
    interruption (in this process, with the seed the resumed run used): ``checkpoint`` and
    deploy.pth must be bitwise equal. ``options`` shrink the shipped config."""
    work_dir = str(tmp_path / 'work')
    marker = str(tmp_path / 'paused')
    args = [config, '--work-dir', work_dir, '--cfg-options', *options]
    _kill_when_paused(args, fault.format(marker=marker), marker)
    assert not osp.exists(osp.join(work_dir, checkpoint))
    resumed = _train_script([config, '--work-dir', work_dir, '--resume', '--cfg-options',
                             *options])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'resuming from' in resumed.stderr and 'will not repeat' not in resumed.stderr

    seed = torch.load(osp.join(work_dir, checkpoint))['meta']['seed']
    straight = str(tmp_path / 'straight')
    assert main_train([config, '--work-dir', straight, '--cfg-options', *options,
                       f'randomness.seed={seed}']) == 0
    expected = torch.load(osp.join(straight, checkpoint))
    parts = [p for p in ('state_dict', 'ema_state_dict') if p in expected]  # no EMA in SSDLite
    _assert_bitwise(osp.join(work_dir, checkpoint), osp.join(straight, checkpoint), parts)
    _assert_bitwise(osp.join(work_dir, 'deploy.pth'), osp.join(straight, 'deploy.pth'),
                    parts=('state_dict', ))


@pytest.mark.slow
def test_ssdlite_recipe_resumes_bitwise_with_persistent_workers(tmp_path):
    """configs/ssdlite_mobileone_s0_coco.py (its SeededSampler, Expand / MinIoURandomCrop /
    flip / photometric augmentation, 2 persistent workers, a random seed) at 96 px on 4
    synthetic COCO images: killed in epoch 2, resumed, equal to an uninterrupted run."""
    from mmmobileone.datasets.synthetic import generate_coco
    data_root = str(tmp_path / 'coco')
    generate_coco(data_root, num_train=4, num_val=1, image_size=(64, 48), max_objects=2, seed=3)
    config = _shipped_with_faults('ssdlite_mobileone_s0_coco', str(tmp_path / 'ssdlite.py'))
    ann = osp.join(data_root, 'annotations', 'instances_val2017.json')
    options = [f'{split}_dataloader.dataset.data_root={data_root}/' for split in ('train', 'val')]
    options += [
        f'val_evaluator.ann_file={ann}', 'model.backbone.init_cfg=None',
        'train_dataloader.dataset.pipeline.4.scale=(96,96)', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=2', 'train_dataloader.persistent_workers=True',
        'train_cfg.max_epochs=2', 'train_cfg.val_begin=3', 'default_hooks.checkpoint.interval=1'
    ]
    _kill_resume_and_compare(tmp_path, config, options, 'pause_iter:2:1:{marker}', 'epoch_2.pth')


@pytest.mark.slow
def test_imagenet_recipe_resumes_bitwise_with_persistent_workers(tmp_path):
    """configs/mobileone_s0_imagenet.py (SeededSampler, random resized crop and flip, EMA,
    progressive learning switching 32 -> 40 px at epoch 3, 2 persistent workers) on 8 synthetic
    images: killed in epoch 2, resumed, equal to an uninterrupted run."""
    from mmmobileone.datasets.synthetic import generate_imagenet
    data_root = str(tmp_path / 'imagenet')
    generate_imagenet(data_root, classes=2, train_per_class=4, val_per_class=1, image_size=32)
    config = _shipped_with_faults('mobileone_s0_imagenet', str(tmp_path / 'imagenet.py'))
    options = [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}', 'model.head.num_classes=2',
        'model.head.topk=(1,)', 'train_dataloader.batch_size=4', 'train_dataloader.num_workers=2',
        'train_cfg.max_epochs=3', 'train_cfg.val_begin=4', 'custom_hooks.0.milestones=(2,)',
        'custom_hooks.0.resolutions=(32,40)', 'custom_hooks.0.strengths=(0.5,1.0)'
    ]
    _kill_resume_and_compare(tmp_path, config, options, 'pause_iter:2:1:{marker}', 'epoch_3.pth')


@pytest.mark.slow
def test_ade20k_recipe_resumes_bitwise_mid_stream(tmp_path):
    """configs/deeplabv3_mobileone_s0_ade20k.py (iteration-based, SeededInfiniteSampler, random
    resize / crop / flip, ASPP dropout, EMA, 2 persistent workers) at 32 px: checkpoint every 2
    iterations, killed before iteration 4 of 4, resumed from iter_2.pth (mmengine replays the
    stream), equal to an uninterrupted run."""
    from mmengine.config import Config

    from mmmobileone.datasets.synthetic import generate_ade20k
    ade = str(tmp_path / 'ade')
    generate_ade20k(ade, num_train=3, num_val=1, image_size=(40, 32), seed=4)
    config = _shipped_with_faults('deeplabv3_mobileone_s0_ade20k', str(tmp_path / 'ade.py'))
    options = [o for o in small_run_options(Config.fromfile(config), ade, crop_size=32,
                                            max_iters=4, batch_size=2)
               if 'save_optimizer' not in o and not o.startswith('train_dataloader.num_workers')
               and not o.startswith('train_dataloader.persistent_workers')]
    options += ['train_dataloader.num_workers=2', 'train_dataloader.persistent_workers=True',
                'default_hooks.checkpoint.interval=2', 'train_cfg.val_begin=5']
    _kill_resume_and_compare(tmp_path, config, options, 'pause_iter:1:3:{marker}', 'iter_4.pth')
