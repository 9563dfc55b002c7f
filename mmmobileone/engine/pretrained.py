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
"""
import os.path as osp
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

#: ``init_cfg`` types that load a checkpoint (mmengine's ``PretrainedInit``).
PRETRAINED_TYPES = ('Pretrained', 'PretrainedInit')


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
    if isinstance(node, dict):
        if node.get('type') in PRETRAINED_TYPES and isinstance(node.get('checkpoint'), str):
            yield where, node['checkpoint']
        for key, value in node.items():
            yield from iter_pretrained_checkpoints(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from iter_pretrained_checkpoints(value, f'{where}.{index}')


def torch_hub_checkpoint_path(url: str) -> str:
    """Where mmengine's loader (``mmengine.utils.dl_utils.load_url``) caches ``url``."""
    from torch.hub import get_dir
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
            raise FileNotFoundError(
                f'cannot download the pretrained weights of {key} from {checkpoint} ({reason}; '
                f'not in the download cache {osp.dirname(cached)}): {_how_to_fix(key)}')
        if '://' in checkpoint:
            continue  # s3://, petrel://, ...: mmengine's file backends
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'the pretrained weights of {key} do not exist: {checkpoint!r}; '
                f'{_how_to_fix(key)}')
