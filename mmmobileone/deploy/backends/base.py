"""The interface every runtime backend implements: export once, load once, run many times.

A backend (:class:`Backend`) converts a tensor-in / tensors-out module (see
:mod:`mmmobileone.deploy.outputs`) into the runtime's model file(s) with :meth:`Backend.export`,
loads those files into a :class:`Session` with :meth:`Backend.load`, and the session runs numpy
inputs as many times as needed (:meth:`Session.run`; :meth:`Session.bind` for timing loops).
:meth:`Backend.available` says whether the runtime can export and run here, and if not, why.

Backends are listed in :mod:`.registry`; the export tool, the parity report, the latency
benchmark and the INT8 report reach every runtime through this interface only.
"""
import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar, List, Optional, Sequence, Tuple

import numpy as np
from torch import Tensor, nn

from ...errors import BackendError

#: How to install every optional runtime package at once.
DEPLOY_EXTRA = 'pip install -e ".[deploy]"'


class RuntimeUnavailableError(BackendError):
    """The runtime cannot run a model on this machine (for example Core ML prediction outside
    macOS); the model file itself can still be written."""


class MissingPackageError(BackendError, ImportError):
    """A backend's optional package is not installed; the message names it and the extra."""


@dataclass(frozen=True)
class Availability:
    """Whether a backend works on this machine.

    Attributes:
        can_export: Its converter's packages are installed.
        can_run: It can also load and run the written files here.
        reason: Why not (empty when both are possible): the missing package and how to
            install it, or what the machine lacks.
    """
    can_export: bool
    can_run: bool
    reason: str = ''

    def __bool__(self) -> bool:
        return self.can_export and self.can_run


class Session(ABC):
    """Model files loaded once into their runtime, run many times on numpy inputs."""

    @abstractmethod
    def run(self, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Run the model once.

        Args:
            inputs: float32 arrays of the exported input shape (one per model input).

        Returns:
            The outputs as numpy arrays, in PyTorch's order and shapes.
        """

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], object]:
        """A no-argument call that runs the model on ``inputs`` prepared once (for timing);
        what it returns is runtime-specific. Backends override this to keep per-call copies
        out of the timed region."""
        prepared = [np.ascontiguousarray(x, dtype=np.float32) for x in inputs]
        return lambda: self.run(prepared)


class Backend(ABC):
    """One runtime: its converter, its file format and its Python runtime.

    Subclasses set :attr:`name`, :attr:`suffixes` and :attr:`packages`, implement
    :meth:`export` and :meth:`load`, and are added to the registry with
    :func:`~.registry.register_backend`.
    """
    #: The ``--backend`` value.
    name: ClassVar[str] = ''
    #: What the written files end with (one entry per file, or the bundle folder).
    suffixes: ClassVar[Tuple[str, ...]] = ()
    #: ``(module, package)`` pairs the backend needs, e.g. ``('onnxruntime', 'onnxruntime')``;
    #: checked without importing them.
    packages: ClassVar[Tuple[Tuple[str, str], ...]] = ()
    #: Whether the exported model accepts any batch size (else: the example's).
    dynamic_batch: ClassVar[bool] = False

    def available(self) -> Availability:
        """Whether the backend can export and run here; the reason if not.

        The packages are looked up, not imported (importing some runtimes is slow or has side
        effects); :meth:`runs_here` adds what the machine itself must offer.
        """
        missing = [package for module, package in self.packages if not _importable(module)]
        if missing:
            return Availability(False, False, missing_package_message(self.name, missing))
        reason = self.runs_here()
        return Availability(True, reason is None, reason or '')

    def runs_here(self) -> Optional[str]:
        """``None`` if this machine can run the backend's files, else the reason."""
        return None

    @abstractmethod
    def export(self, module: nn.Module, example: Tensor, out_dir: str, name: str = 'model',
               output_names: Optional[Sequence[str]] = None, **options) -> List[str]:
        """Convert ``module`` for inputs shaped like ``example`` into ``out_dir``.

        Args:
            module: A tensor-in / tensors-out module in eval mode.
            example: An input of the shape the model will be run at.
            out_dir: Folder to write to (created if needed). Files appear complete or not at
                all: a failed conversion leaves nothing behind.
            name: File name stem.
            output_names: Output names, for formats that keep them.
            **options: Backend-specific export options (e.g. ONNX ``opset``); a backend
                without options refuses any.

        Returns:
            The written paths, in the runtime's order.

        Raises:
            MissingPackageError: the converter's package is missing.
            BackendError: the converter failed.
        """

    @abstractmethod
    def load(self, paths: Sequence[str], threads: Optional[int] = 1) -> Session:
        """Load the written files into a session.

        Args:
            paths: What :meth:`export` returned.
            threads: Intra-op threads of the runtime (``None``: the runtime's default).

        Raises:
            RuntimeUnavailableError: the runtime cannot run here (see :meth:`runs_here`).
            MissingPackageError: the runtime's package is missing.
        """

    def check(self, paths: Sequence[str], input_shape: Sequence[int],
              expected: Sequence[np.ndarray], output_names: Sequence[str]) -> None:
        """Verify the written files without running them, where the runtime cannot run here.

        The default checks only that the files exist; a backend whose files declare their
        inputs and outputs (Core ML) checks names and shapes.

        Raises:
            BackendError: a file is missing or declares other names or shapes.
        """
        self.pick(paths, self.suffixes[0] if self.suffixes else '')

    def pick(self, paths: Sequence[str], suffix: str) -> str:
        """The first of ``paths`` that ends with ``suffix``.

        Raises:
            BackendError: none does (the message lists ``paths``).
        """
        for path in paths:
            if path.rstrip('/').endswith(suffix):
                return path
        raise BackendError(f'the {self.name!r} backend needs a {suffix} file; got {list(paths)}')

    @staticmethod
    def refuse_options(name: str, options: dict) -> None:
        """Raise for export options a backend does not have."""
        if options:
            raise BackendError(f'the {name!r} backend has no export options; got '
                               f'{sorted(options)}')


def missing_package_message(backend: str, packages: Sequence[str]) -> str:
    """The one line that names missing packages and the extra that installs them."""
    listed = ', '.join(repr(p) for p in packages)
    return (f'the {backend!r} backend needs the optional package{"s" if len(packages) > 1 else ""}'
            f' {listed}; install the deployment extra: {DEPLOY_EXTRA}')


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or a None entry
        return False
