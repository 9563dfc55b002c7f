"""The one list of runtime backends: register with :func:`register_backend`, look up by name.

:mod:`mmmobileone.deploy.backends` registers the five shipped backends (``onnx``,
``executorch``, ``litert``, ``ncnn``, ``coreml``), in the order of docs/deployment.md. A sixth
runtime is one module with a :class:`~.base.Backend` subclass decorated with
:func:`register_backend`, and one import line in that package.
"""
from typing import Dict, List, Type, TypeVar

from ...errors import ConfigError
from .base import Backend

_BACKENDS: Dict[str, Backend] = {}

B = TypeVar('B', bound=Type[Backend])


def register_backend(cls: B) -> B:
    """Class decorator: add one instance of ``cls`` under ``cls.name``.

    Raises:
        ConfigError: ``cls`` has no name, or the name is taken by another class.
    """
    if not cls.name:
        raise ConfigError(f'{cls.__name__} has no backend name (set its `name` attribute)')
    taken = _BACKENDS.get(cls.name)
    if taken is not None and type(taken) is not cls:
        raise ConfigError(f'backend name {cls.name!r} is already taken by '
                          f'{type(taken).__name__}')
    _BACKENDS[cls.name] = cls()
    return cls


def unregister_backend(name: str) -> None:
    """Remove backend ``name`` (for tests and plug-ins).

    Raises:
        ConfigError: no backend of that name is registered.
    """
    get_backend(name)
    del _BACKENDS[name]


def backend_names() -> List[str]:
    """The registered backend names, in registration order."""
    return list(_BACKENDS)


def get_backend(name: str) -> Backend:
    """The backend registered as ``name``.

    Raises:
        ConfigError: unknown name (the message lists the registered ones).
    """
    try:
        return _BACKENDS[name]
    except KeyError:
        raise ConfigError(f'unknown backend {name!r}; supported backends: '
                          f'{", ".join(_BACKENDS)}') from None
