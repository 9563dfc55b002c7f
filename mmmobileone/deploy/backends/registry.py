"""The one list of runtime backends: register with :func:`register_backend`, look up by name.

:mod:`mmmobileone.deploy.backends` registers the five shipped backends (``onnx``,
``executorch``, ``litert``, ``ncnn``, ``coreml``), in the order of docs/deployment.md. A sixth
runtime is one module with a :class:`~.base.Backend` subclass decorated with
:func:`register_backend`, and one import line in that package.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Type, TypeVar, Union

from ...errors import ConfigError
from .base import Backend

_BACKENDS: Dict[str, Backend] = {}

B = TypeVar('B', bound=Type[Backend])


def register_backend(cls: Optional[B] = None, *, name: Optional[str] = None,
                     suffixes: Optional[Sequence[str]] = None,
                     packages: Optional[Sequence[Tuple[str, str]]] = None,
                     dynamic_batch: Optional[bool] = None) -> Union[B, Callable[[B], B]]:
    """Class decorator: add one instance of the backend class under its name.

    ``@register_backend`` takes the class's own :attr:`~.base.Backend.name`,
    :attr:`~.base.Backend.suffixes` and :attr:`~.base.Backend.packages`;
    ``@register_backend(name=..., suffixes=..., packages=...)`` declares them here (set on the
    class), as mmengine's ``register_module(name=...)`` names a module.

    Raises:
        ConfigError: the class has no name, or the name is taken by another class.
    """
    declared = dict(name=name, suffixes=None if suffixes is None else tuple(suffixes),
                    packages=None if packages is None else tuple(packages),
                    dynamic_batch=dynamic_batch)

    def register(klass: B) -> B:
        for attr, value in declared.items():
            if value is not None:
                setattr(klass, attr, value)
        if not klass.name:
            raise ConfigError(f'{klass.__name__} has no backend name (set its `name` attribute '
                              'or pass name= to register_backend)')
        taken = _BACKENDS.get(klass.name)
        if taken is not None and type(taken) is not klass:
            raise ConfigError(f'backend name {klass.name!r} is already taken by '
                              f'{type(taken).__name__}')
        _BACKENDS[klass.name] = klass()
        return klass

    return register if cls is None else register(cls)


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
