"""The model zoo: model names from the metafiles, resolved to configs and released weights.

The zoo is the root ``model-index.yml`` and the metafiles it imports (mmpretrain's schema:
``Collections`` and ``Models`` with ``Name``, ``Alias``, ``Config``, ``Metadata``, ``Results``,
``Weights``). In a source checkout they sit at the repository root and in ``configs/metafiles/``;
an installed wheel carries them, with ``configs/`` and ``tools/``, inside the package in
``mmmobileone/.mim/``, where ``mim`` and mmengine look for them (see setup.py).

* :func:`list_models`, :func:`find_model`: the zoo's entries by name or alias;
* :func:`resolve_config`: a config path or a model name -> the config file;
* :func:`download_weights`: a name's released checkpoint, checked against the SHA-256 prefix its
  file name carries (OpenMMLab's ``NAME_DATE-HASH8.pth`` convention);
* :func:`register_with_mmengine`: opt in to ``mmengine.hub.get_config('mmmobileone::...')``;
  :func:`~mmmobileone.apis.host_names.register_model_names`: opt in to the names in
  ``mmpretrain.get_model``, ``DetInferencer``, ``MMSegInferencer``.

Example:
    >>> from mmmobileone.apis import model_zoo
    >>> model_zoo.find_model('ssdlite_mobileone-s2_coco').config
    'configs/ssdlite_mobileone_s2_coco.py'
"""
import difflib
import functools
import hashlib
import logging
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
import yaml
from mmengine.config.utils import MODULE2PACKAGE

from ..errors import CheckpointError, ConfigError, MissingPathError

logger = logging.getLogger(__name__)

#: Name of the package folder that holds the zoo in an installed wheel (as OpenMMLab's).
MIM_DIR = '.mim'
#: The root index file.
INDEX_FILE = 'model-index.yml'
#: OpenMMLab checkpoint names end in the first 8 hex digits of the file's SHA-256.
_HASH_SUFFIX = re.compile(r'-([0-9a-f]{8,64})\.pth$')
#: How many close matches an unknown name's message lists.
MAX_SUGGESTIONS = 5


@dataclass(frozen=True)
class ZooModel:
    """One ``Models`` entry of a metafile.

    Attributes:
        name: The model's name (``Name``).
        aliases: Other names it answers to (``Alias``).
        config: The config path relative to the zoo root, e.g. ``configs/x.py``.
        root: The zoo root (repository root or ``mmmobileone/.mim``).
        collection: ``In Collection``.
        weights: The released checkpoint's URL, or ``None`` where nothing is released.
        metadata: ``Metadata`` (training data, parameters and FLOPs, input size, ...).
        results: ``Results`` entries, each with a ``Source`` (the paper's table or "measured
            here").
        metafile: The metafile it comes from, relative to the zoo root.
    """
    name: str
    aliases: Tuple[str, ...]
    config: str
    root: str
    collection: str
    weights: Optional[str] = None
    metadata: Dict = field(default_factory=dict)
    results: Tuple[Dict, ...] = ()
    metafile: str = ''

    @property
    def config_path(self) -> str:
        """Absolute path of the config file."""
        return osp.join(self.root, self.config)


def package_dir() -> str:
    """The directory of the imported ``mmmobileone`` package."""
    return osp.dirname(osp.dirname(osp.abspath(__file__)))


def zoo_root() -> str:
    """Where ``model-index.yml``, ``configs/`` and ``tools/`` are.

    ``mmmobileone/.mim`` in an installed wheel; the repository root for a source checkout or an
    editable install.

    Raises:
        MissingPathError: neither place has a ``model-index.yml``.
    """
    pkg = package_dir()
    for root in (osp.join(pkg, MIM_DIR), osp.dirname(pkg)):
        if osp.isfile(osp.join(root, INDEX_FILE)):
            return root
    raise MissingPathError(f'no {INDEX_FILE} in {osp.join(pkg, MIM_DIR)!r} or '
                           f'{osp.dirname(pkg)!r}: mmmobileone is installed without its model '
                           'zoo; install it from a wheel built by setup.py or use a checkout')


def _read_yaml(path: str) -> Dict:
    if not osp.isfile(path):
        raise MissingPathError(f'model zoo file {path!r} not found')
    with open(path, encoding='utf-8') as file:
        data = yaml.safe_load(file)
    if not isinstance(data, dict):
        raise ConfigError(f'model zoo file {path!r} is not a YAML mapping')
    return data


def metafile_paths(root: Optional[str] = None) -> List[str]:
    """The metafiles ``model-index.yml`` imports, relative to the zoo root, in its order."""
    root = root or zoo_root()
    index = _read_yaml(osp.join(root, INDEX_FILE))
    imports = index.get('Import')
    if not isinstance(imports, list) or not imports:
        raise ConfigError(f"{osp.join(root, INDEX_FILE)!r} has no 'Import' list of metafiles")
    return list(imports)


def read_metafile(path: str) -> Dict:
    """A metafile as a dict (``Collections`` and ``Models``)."""
    data = _read_yaml(path)
    if not isinstance(data.get('Models'), list):
        raise ConfigError(f"metafile {path!r} has no 'Models' list")
    return data


@functools.lru_cache(maxsize=4)
def _load_zoo(root: str) -> Tuple[ZooModel, ...]:
    models, seen = [], {}
    for metafile in metafile_paths(root):
        for entry in read_metafile(osp.join(root, metafile))['Models']:
            aliases = entry.get('Alias') or []
            aliases = (aliases, ) if isinstance(aliases, str) else tuple(aliases)
            model = ZooModel(
                name=entry['Name'], aliases=aliases, config=entry['Config'], root=root,
                collection=entry.get('In Collection', ''), weights=entry.get('Weights'),
                metadata=dict(entry.get('Metadata') or {}),
                results=tuple(entry.get('Results') or ()), metafile=metafile)
            for key in (model.name, *model.aliases):
                if key.lower() in seen:
                    raise ConfigError(f'model name {key!r} appears twice in the zoo '
                                      f'({seen[key.lower()]} and {metafile})')
                seen[key.lower()] = metafile
            models.append(model)
    return tuple(models)


def load_zoo(root: Optional[str] = None) -> List[ZooModel]:
    """Every model of the zoo, in ``model-index.yml`` and metafile order.

    Args:
        root: The zoo root; default :func:`zoo_root`.

    Raises:
        ConfigError: a name or alias appears twice, or a file is not a metafile.
    """
    return list(_load_zoo(osp.abspath(root or zoo_root())))


def clear_cache() -> None:
    """Forget the metafiles read so far (after editing them in the same process)."""
    _load_zoo.cache_clear()


def list_models(root: Optional[str] = None) -> List[str]:
    """The zoo's model names (not the aliases)."""
    return [model.name for model in load_zoo(root)]


def _close_matches(word: str, candidates: List[str]) -> str:
    matches = difflib.get_close_matches(word.lower(), candidates, n=MAX_SUGGESTIONS, cutoff=0.6)
    return ', '.join(matches) if matches else 'none'


def find_model(name: str, root: Optional[str] = None) -> ZooModel:
    """The zoo entry whose name or alias is ``name`` (case-insensitive).

    Raises:
        ConfigError: no entry has that name; the one-line message lists the closest names.
    """
    models = load_zoo(root)
    for model in models:
        if name.lower() in (key.lower() for key in (model.name, *model.aliases)):
            return model
    keys = [key.lower() for model in models for key in (model.name, *model.aliases)]
    raise ConfigError(f'unknown model name {name!r}; close matches: {_close_matches(name, keys)} '
                      f'({len(models)} models: mmmobileone.apis.model_zoo.list_models())')


def _looks_like_path(value: str) -> bool:
    return value.endswith('.py') or os.sep in value or '/' in value


def resolve_config(name_or_path: str, root: Optional[str] = None) -> str:
    """The config file that a path or a zoo model name stands for.

    * an existing file, or a ``'pkg::rel/path.py'`` name (mmengine's), is returned as given;
    * a shipped config's path relative to ``configs/`` (``'ssdlite_mobileone_s2_coco.py'``,
      ``'quickstart/x.py'``) or to the zoo root (``'configs/x.py'``) gives the zoo's file, from
      any working directory;
    * anything else is a model name or alias (:func:`find_model`).

    Raises:
        MissingPathError: a path that is neither a file nor a shipped config.
        ConfigError: an unknown model name (with the closest names).
    """
    if '::' in name_or_path or osp.isfile(name_or_path):
        return name_or_path
    if not _looks_like_path(name_or_path):
        return find_model(name_or_path, root).config_path
    wanted = osp.normpath(name_or_path)
    models = load_zoo(root)
    for model in models:
        if wanted in (osp.normpath(model.config), osp.relpath(model.config, 'configs')):
            return model.config_path
    configs = [osp.relpath(model.config, 'configs') for model in models]
    raise MissingPathError(f'config file {name_or_path!r} not found (working directory '
                           f'{os.getcwd()!r}); shipped configs that come close: '
                           f'{_close_matches(name_or_path, configs)}')


def weights_hash_prefix(url: str) -> Optional[str]:
    """The SHA-256 prefix an OpenMMLab checkpoint name carries (``..._20221110-0bc94952.pth``),
    or ``None`` when the name has none."""
    match = _HASH_SUFFIX.search(url.split('?')[0])
    return match.group(1) if match else None


def default_weights_dir() -> str:
    """Where downloads go by default: torch hub's checkpoint folder (mmengine's cache too)."""
    return osp.join(torch.hub.get_dir(), 'checkpoints')


def download_weights(name: str, dest_dir: Optional[str] = None,
                     root: Optional[str] = None) -> str:
    """The released checkpoint of a zoo model as a local file, downloaded once.

    A file already in ``dest_dir`` is reused when its hash fits; a download is written to a
    temporary file and kept only when its SHA-256 starts with the prefix in the file name.

    Args:
        name: Model name or alias.
        dest_dir: Target folder; default :func:`default_weights_dir`.
        root: The zoo root; default :func:`zoo_root`.

    Returns:
        The checkpoint's path.

    Raises:
        ConfigError: unknown name, or the model has no released weights.
        MissingPathError: the download failed (offline, bad URL).
        CheckpointError: the file's hash does not match its name.
    """
    model = find_model(name, root)
    if not model.weights:
        with_weights = [m.name for m in load_zoo(root) if m.weights]
        raise ConfigError(f'model {model.name!r} has no released weights; models with weights: '
                          f"{', '.join(with_weights) or 'none'}")
    url = model.weights
    prefix = weights_hash_prefix(url)
    dest_dir = dest_dir or default_weights_dir()
    os.makedirs(dest_dir, exist_ok=True)
    path = osp.join(dest_dir, osp.basename(url.split('?')[0]))
    if osp.isfile(path):
        with open(path, 'rb') as file:
            digest = hashlib.sha256(file.read()).hexdigest()
        if prefix is None or digest.startswith(prefix):
            logger.info('%s: using %s', model.name, path)
            return path
        raise CheckpointError(f'{path!r} has SHA-256 {digest[:len(prefix)]}..., not the '
                              f'{prefix} its name promises: delete it and download again')
    logger.info('%s: downloading %s to %s', model.name, url, path)
    try:
        torch.hub.download_url_to_file(url, path, hash_prefix=prefix, progress=False)
    except RuntimeError as error:
        if 'invalid hash value' in str(error):
            raise CheckpointError(f'download of {url} does not match the SHA-256 prefix {prefix} '
                                  f'in its name ({error}); nothing written') from error
        raise
    except OSError as error:
        raise MissingPathError(f'cannot download {url} ({error}); offline, fetch it elsewhere '
                               f'and put it at {path!r} or pass the file directly') from error
    return path


def register_with_mmengine() -> None:
    """Let mmengine resolve ``'mmmobileone::FOLDER/CONFIG.py'`` names (opt-in).

    mmengine 0.10.7 resolves ``pkg::`` names (``mmengine.hub.get_config``, ``_base_`` across
    packages) only for the packages of its own table ``mmengine.config.utils.MODULE2PACKAGE``,
    and then reads ``<package>/.mim/model-index.yml``. This adds ``mmmobileone`` to that table,
    for the installed wheel. Not done on import: mmengine then also treats our registries like an
    OpenMMLab package's. mmengine only accepts names with a folder
    (``'mmmobileone::quickstart/ssdlite_mobileone_mu1_synthetic.py'``); for the configs at the
    top of ``configs/`` use :func:`resolve_config`, which takes any shipped config or model name.
    """
    MODULE2PACKAGE.setdefault('mmmobileone', 'mmmobileone')
