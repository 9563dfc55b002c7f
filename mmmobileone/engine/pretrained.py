"""Are the pretrained weights a config starts from reachable? Checked before training starts.

The detection and segmentation configs initialize the backbone from mmpretrain's released
ImageNet weights (``init_cfg=dict(type='Pretrained', checkpoint=URL, prefix='backbone.')``).
mmengine's loader fetches such a URL only once the Runner initializes the model, after the
datasets and the model are built, and on an offline machine the run then dies with a long
traceback. :func:`check_pretrained_checkpoints` finds every ``Pretrained`` init in the model
config first and stops with one line that names the file and says what to do instead.

For ``http(s)://`` checkpoints it looks where mmengine's loader caches downloads (torch hub's
``checkpoints`` folder, ``$TORCH_HOME``): a cached file needs no network. Otherwise it asks the
server with a short ``HEAD`` request (a one-byte ``GET`` where ``HEAD`` is refused) and gives up
after ``timeout`` seconds. Local paths must exist; other schemes (``s3://``, ...) are left to
mmengine's file backends.

Once the model is built, :func:`check_pretrained_inits` reads each ``Pretrained`` checkpoint as
mmengine's ``PretrainedInit`` will (prefix stripped) and stops with one line naming the tensors
of the module that it would leave unloaded: mmengine loads such a checkpoint with
``strict=False`` and only logs the missing keys, so training would otherwise start from a
partly random network.
"""
import logging
import os.path as osp
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader
from torch.hub import get_dir

from ..compat import mmengine_safe_globals
from ..errors import CheckpointError, MissingPathError
from ..fileio import load_checkpoint
from .config_tree import iter_config_dicts

#: ``init_cfg`` types that load a checkpoint (mmengine's ``PretrainedInit``).
PRETRAINED_TYPES = ('Pretrained', 'PretrainedInit')
#: How many tensor names an :class:`IncompletePretrainedError` lists.
MAX_LISTED_KEYS = 5

logger = logging.getLogger(__name__)


def iter_pretrained_checkpoints(node: Any, where: str = 'model') -> Iterator[Tuple[str, str]]:
    """``(key, checkpoint)`` for every ``Pretrained`` ``init_cfg`` in a model config.

    Args:
        node: A model config (dict), or any part of it; lists and nested dicts are searched.
        where: Dotted key of ``node`` (for the messages).

    Yields:
        The dotted key of the ``init_cfg`` (``'model.backbone.init_cfg'``, with ``.N`` for an
        entry of a list of inits), as ``--cfg-options`` accepts it, and its checkpoint.

    Example:
        >>> model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='a.pth')))
        >>> list(iter_pretrained_checkpoints(model))
        [('model.backbone.init_cfg', 'a.pth')]
    """
    for key, cfg in iter_config_dicts(node, where):
        if cfg.get('type') in PRETRAINED_TYPES and isinstance(cfg.get('checkpoint'), str):
            yield key, cfg['checkpoint']


def torch_hub_checkpoint_path(url: str) -> str:
    """Where mmengine's loader (``mmengine.utils.dl_utils.load_url``) caches ``url``."""
    filename = osp.basename(urllib.parse.urlparse(url).path)
    return osp.join(get_dir(), 'checkpoints', filename)


def _default_opener(request: urllib.request.Request, timeout: float):
    return urllib.request.urlopen(request, timeout=timeout)


def probe_url(url: str,
              timeout: float = 10.0,
              opener: Optional[Callable[..., Any]] = None) -> Optional[str]:
    """Ask the server whether ``url`` can be downloaded, without downloading it.

    Args:
        url: An ``http://`` or ``https://`` address.
        timeout: Seconds to wait for the server.
        opener: ``opener(request, timeout)`` returning a response with ``.status`` (and a
            context manager); :func:`urllib.request.urlopen` by default. For tests.

    Returns:
        ``None`` when the server answers 2xx (3xx redirects are followed), else the reason.
    """
    opener = opener or _default_opener
    headers = {'User-Agent': 'mmmobileone'}
    requests = [urllib.request.Request(url, method='HEAD', headers=headers),
                urllib.request.Request(url, headers=dict(headers, Range='bytes=0-0'))]
    reason = None
    for request in requests:
        try:
            with opener(request, timeout=timeout) as response:
                status = getattr(response, 'status', None) or response.getcode()
                if 200 <= status < 300:
                    return None
                reason = f'HTTP {status}'
        except urllib.error.HTTPError as error:
            reason = f'HTTP {error.code}'
            if error.code not in (403, 405, 501):  # only a refused HEAD deserves a GET
                return reason
        except (urllib.error.URLError, OSError, ValueError) as error:
            cause = getattr(error, 'reason', None) or error
            return ' '.join(f'{type(cause).__name__}: {cause}'.split())
    return reason


def _how_to_fix(key: str) -> str:
    return (f'download it, or use a local or converted file (an mmpretrain checkpoint, or '
            f'tools/model_converters/*_to_mmmobileone.py --backbone-only), with --cfg-options '
            f'{key}.checkpoint=PATH; or train from random weights with --cfg-options {key}=None')


def check_pretrained_checkpoints(cfg: Dict,
                                 timeout: float = 10.0,
                                 opener: Optional[Callable[..., Any]] = None) -> None:
    """Refuse to start training when a ``Pretrained`` checkpoint of ``cfg.model`` is out of reach.

    Args:
        cfg: The training config (an mmengine ``Config`` or a dict with ``model``).
        timeout: Seconds to wait for a server (per checkpoint not in the download cache).
        opener: Passed to :func:`probe_url` (tests).

    Raises:
        FileNotFoundError: A local checkpoint is missing, or a URL is neither in torch hub's
            checkpoint cache nor reachable. The message is one line: the key, the checkpoint,
            the reason and the ``--cfg-options`` that use a local file or random weights.
    """
    model = cfg.get('model') if hasattr(cfg, 'get') else None
    for key, checkpoint in iter_pretrained_checkpoints(model or {}):
        scheme = urllib.parse.urlparse(checkpoint).scheme
        if scheme in ('http', 'https'):
            cached = torch_hub_checkpoint_path(checkpoint)
            if osp.isfile(cached):
                continue
            reason = probe_url(checkpoint, timeout=timeout, opener=opener)
            if reason is None:
                continue
            raise MissingPathError(
                f'cannot download the pretrained weights of {key} from {checkpoint} ({reason}; '
                f'not in the download cache {osp.dirname(cached)}): {_how_to_fix(key)}')
        if '://' in checkpoint:
            continue  # s3://, petrel://, ...: mmengine's file backends
        if not osp.isfile(checkpoint):
            raise MissingPathError(
                f'the pretrained weights of {key} do not exist: {checkpoint!r}; '
                f'{_how_to_fix(key)}')


class IncompletePretrainedError(CheckpointError):
    """A ``Pretrained`` checkpoint would leave tensors of its module unloaded (one line)."""


def iter_pretrained_inits(model: Any) -> Iterator[Tuple[str, Any, Dict]]:
    """``(name, module, init_cfg)`` for every ``Pretrained`` init of a built model.

    Args:
        model: An ``nn.Module`` (a DDP-style wrapper is looked through, as mmengine's
            ``is_model_wrapper`` tells).

    Yields:
        The module's dotted name in the model (``'backbone'``; ``''`` for the model itself), the
        module, and its ``Pretrained`` init config (an entry of a list of inits, or the dict).
    """
    if is_model_wrapper(model):
        model = model.module
    for name, module in model.named_modules():
        init_cfg = getattr(module, 'init_cfg', None)
        for cfg in init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]:
            if (isinstance(cfg, dict) and cfg.get('type') in PRETRAINED_TYPES
                    and isinstance(cfg.get('checkpoint'), str)):
                yield name, module, cfg


def read_pretrained_state_dict(checkpoint: str, prefix: Optional[str] = None) -> Dict[str, Any]:
    """The tensors a ``Pretrained`` init with ``checkpoint`` and ``prefix`` gives its module.

    As mmengine's ``PretrainedInit``: the ``state_dict`` entry (or the whole file), then with a
    prefix only the keys that start with it (prefix removed), without one every key (a leading
    ``module.`` removed). Local files are read weights-only
    (:func:`mmmobileone.fileio.load_checkpoint`), a URL from torch hub's download cache when it
    is there, anything else with mmengine's ``CheckpointLoader`` (which downloads into that
    cache, so mmengine's own load reads it from there).

    Raises:
        FileNotFoundError, ValueError: The file is missing, unreadable or not a checkpoint.
    """
    if '://' not in checkpoint:
        data = load_checkpoint(checkpoint)
    elif (urllib.parse.urlparse(checkpoint).scheme in ('http', 'https')
          and osp.isfile(torch_hub_checkpoint_path(checkpoint))):
        data = load_checkpoint(torch_hub_checkpoint_path(checkpoint))
    else:
        with mmengine_safe_globals():
            data = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    state_dict = data.get('state_dict', data) if isinstance(data, dict) else None
    if not isinstance(state_dict, dict):
        raise CheckpointError(f'checkpoint {checkpoint!r} holds no state dict '
                              f'(got a {type(state_dict).__name__})')
    if not prefix:
        return {re.sub(r'^module\.', '', key): value for key, value in state_dict.items()}
    prefix = prefix if prefix.endswith('.') else f'{prefix}.'
    return {key[len(prefix):]: value for key, value in state_dict.items()
            if key.startswith(prefix)}


def unloaded_tensors(module: Any, state_dict: Dict[str, Any]) -> Tuple[List[str], List[str]]:
    """What loading ``state_dict`` into ``module`` (``strict=False``) would leave unloaded.

    Returns:
        The names of ``module``'s state-dict tensors that ``state_dict`` lacks (BatchNorm's
        ``num_batches_tracked`` counters aside, which mmengine ignores too), and the names
        present with another shape (as ``'name (checkpoint (a, b), model (c, d))'``).
    """
    missing, mismatched = [], []
    for key, tensor in module.state_dict().items():
        if key not in state_dict:
            if not key.endswith('num_batches_tracked'):
                missing.append(key)
            continue
        shape = tuple(getattr(state_dict[key], 'shape', ()))
        if shape != tuple(tensor.shape):
            mismatched.append(f'{key} (checkpoint {shape}, model {tuple(tensor.shape)})')
    return missing, mismatched


def _listed(items: List[str]) -> str:
    shown = ', '.join(items[:MAX_LISTED_KEYS])
    return shown + (f', ... ({len(items)} in all)' if len(items) > MAX_LISTED_KEYS else '')


def check_pretrained_inits(model: Any, load_from: Optional[str] = None) -> int:
    """Refuse to train when a ``Pretrained`` init would leave tensors of its module unloaded.

    mmengine's ``PretrainedInit`` loads with ``strict=False`` and only logs the missing keys,
    so a checkpoint of another architecture (or a model whose layout differs from the
    checkpoint's) would start training from a partly random network. ``tools/train.py`` calls
    this on the built model, before ``runner.train()`` initializes the weights. Tensors the
    checkpoint has and the module lacks (e.g. the SE tensors of S4 ImageNet weights for an S4
    built with ``use_se=False``) are left out by design and allowed.

    Args:
        model: The built model (``runner.model``; wrappers are looked through).
        load_from: The run's ``load_from`` (also set by ``--resume``): its weights replace the
            pretrained ones, so nothing is checked.

    Returns:
        How many ``Pretrained`` inits were checked.

    Raises:
        IncompletePretrainedError: One line naming the module, the init's key, the checkpoint,
            the number of unloaded tensors and the first few names.
        FileNotFoundError, ValueError: The checkpoint is missing or unreadable.
    """
    if load_from:
        logger.info(f'not checking the Pretrained inits: load_from / --resume {load_from!r} '
                    'replaces their weights')
        return 0
    checked = 0
    for name, module, init_cfg in iter_pretrained_inits(model):
        checkpoint, prefix = init_cfg['checkpoint'], init_cfg.get('prefix')
        missing, mismatched = unloaded_tensors(
            module, read_pretrained_state_dict(checkpoint, prefix))
        checked += 1
        if not missing and not mismatched:
            continue
        key = f'model.{name}.init_cfg' if name else 'model.init_cfg'
        total = sum(1 for k in module.state_dict() if not k.endswith('num_batches_tracked'))
        source = f'checkpoint {checkpoint!r}' + (f', prefix {prefix!r}' if prefix else '')
        parts = []
        if missing:
            parts.append(f'{len(missing)} not in the checkpoint: {_listed(missing)}')
        if mismatched:
            parts.append(f'{len(mismatched)} of another shape there: {_listed(mismatched)}')
        raise IncompletePretrainedError(
            f'the Pretrained init of {key} ({source}) would leave '
            f'{len(missing) + len(mismatched)} of the {total} tensors of '
            f'{name or "the model"} at their default initialization: ' + '; '.join(parts) +
            '. Use a checkpoint of the same architecture (arch, use_se, deploy), or train from '
            f'random weights with --cfg-options {key}=None')
    return checked
