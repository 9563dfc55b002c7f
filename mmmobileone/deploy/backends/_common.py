"""Helpers shared by the runtime backends: optional imports, staged writes, output naming.

Every backend writes its files into a private staging folder inside ``out_dir`` first and
moves them into place only once the runtime's converter has finished, so that a failed
conversion leaves nothing behind in ``out_dir``.
"""
import contextlib
import importlib
import os
import os.path as osp
import shutil
import tempfile
from types import ModuleType
from typing import Callable, Iterator, List, Sequence

from ...fileio import write_file_atomic
from .base import MissingPackageError, missing_package_message


def require(module: str, package: str, backend: str) -> ModuleType:
    """Import ``module`` (a runtime package, imported only when a backend needs it) or raise
    an error that says how to install it.

    Args:
        module: Dotted module name, e.g. ``'executorch.exir'``.
        package: The registry package that provides it, e.g. ``'executorch'``.
        backend: Backend name for the message, e.g. ``'executorch'``.

    Raises:
        MissingPackageError: ``module`` cannot be imported (also an ``ImportError``); the
            message names ``package`` and the ``deploy`` extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingPackageError(f'{missing_package_message(backend, [package])} ({error})'
                                  ) from error


@contextlib.contextmanager
def staging_folder(out_dir: str) -> Iterator[str]:
    """A temporary folder inside ``out_dir`` (same file system, so moves are renames); it is
    removed with whatever is left in it, whether the block succeeds or fails."""
    os.makedirs(out_dir, exist_ok=True)
    folder = tempfile.mkdtemp(dir=out_dir, prefix='.export-')
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(staged: Sequence[str], out_dir: str) -> List[str]:
    """Move staged files (or bundle folders such as ``.mlpackage``) into ``out_dir``.

    Files go through :func:`mmmobileone.fileio.write_file_atomic`; a folder replaces any
    previous folder of the same name by a rename.

    Returns:
        The final paths, in the order of ``staged``.
    """
    paths = []
    for source in staged:
        target = osp.join(out_dir, osp.basename(source))
        if osp.isdir(source):
            if osp.isdir(target):
                shutil.rmtree(target)
            elif osp.exists(target):
                os.remove(target)
            os.replace(source, target)
        else:
            write_file_atomic(target, lambda temporary, src=source: os.replace(src, temporary))
        paths.append(target)
    return paths


def write_one(out_dir: str, filename: str, save: Callable[[str], None]) -> List[str]:
    """``save(path)`` into a staging folder, then :func:`publish` the result into ``out_dir``.

    Returns:
        ``[final path]``.
    """
    with staging_folder(out_dir) as staging:
        staged = osp.join(staging, filename)
        save(staged)
        return publish([staged], out_dir)


def remove_paths(paths: Sequence[str]) -> None:
    """Delete exported files and bundle folders (missing ones are ignored)."""
    for path in paths:
        if osp.isdir(path) and not osp.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif osp.lexists(path):
            os.remove(path)


def default_output_names(count: int) -> List[str]:
    """``output_0`` ... for modules without an ``output_names`` method."""
    return [f'output_{i}' for i in range(count)]
