"""Runtime backends: one module per runtime, one registry, one interface.

Each module defines a :class:`~.base.Backend` (export once, :meth:`~.base.Backend.load` into a
:class:`~.base.Session`, run many times; :meth:`~.base.Backend.available` says whether it works
here and why not) and registers it with :func:`~.registry.register_backend`. Importing this
package imports no runtime package: each backend imports its runtime when it exports or loads,
and a missing package raises :class:`~.base.MissingPackageError` naming the extra to install.

Adding a runtime: one module with a registered ``Backend`` subclass, and one import line below.
"""
from .base import (DEPLOY_EXTRA, Availability, Backend, MissingPackageError,
                   RuntimeUnavailableError, Session)
from .registry import backend_names, get_backend, register_backend, unregister_backend

# the registry lists the backends in the order they are imported here (docs/deployment.md)
# isort: off
from . import onnx  # noqa: F401
from . import executorch  # noqa: F401
from . import litert  # noqa: F401
from . import ncnn  # noqa: F401
from . import coreml  # noqa: F401
# isort: on

__all__ = [
    'DEPLOY_EXTRA', 'Availability', 'Backend', 'MissingPackageError', 'RuntimeUnavailableError',
    'Session', 'backend_names', 'get_backend', 'register_backend', 'unregister_backend'
]
