"""The dataset folder of a generator: claimed with a marker file, never someone else's.

A generator writes into ``root`` only if ``root`` is missing or empty, or holds a marker file
(:data:`MARKER`) left by the same generator. The marker lists every file the generator wrote;
writing again (``overwrite=True``) first removes exactly those files, so that a smaller dataset
does not keep stale images that folder-scanning datasets would pick up. Nothing else in
``root`` is ever removed or replaced.
"""
import json
import logging
import os
import os.path as osp
from typing import Any, Callable, Dict, List, Optional

import cv2
import numpy as np
from PIL import Image

from ...errors import MMMobileOneError, WriteError

logger = logging.getLogger(__name__)

#: Name of the marker file in a generated dataset's root.
MARKER = '.mmmobileone_synthetic.json'


class DatasetRootError(MMMobileOneError, FileExistsError):
    """The dataset root named for a generator holds data it must not overwrite."""


class DatasetRootIsFileError(MMMobileOneError, NotADirectoryError):
    """The dataset root named for a generator is a file."""


class DatasetFolder:
    """A dataset root being written by one generator (see the module docstring).

    Args:
        root: The dataset root.
        generator: Name of the generator, e.g. ``'coco'``; stored in the marker.
        arguments: The generator's arguments (JSON-serializable), stored in the marker.
        overwrite: Replace an earlier output of the same generator in ``root``.
        legacy: Recognizes a dataset this generator wrote before markers existed (given the
            root); such a root may be overwritten too.

    Raises:
        FileExistsError: If ``root`` holds files the generator did not write, or an earlier
            output and ``overwrite`` is false.
        NotADirectoryError: If ``root`` is a file.

    Use it as a context manager: on exit the marker lists the files written through it.
    """

    def __init__(self, root: str, generator: str, arguments: Dict[str, Any], overwrite: bool,
                 legacy: Optional[Callable[[str], bool]] = None) -> None:
        self.root = root
        self.generator = generator
        self.arguments = arguments
        self.files: List[str] = []
        self._claim(overwrite, legacy)

    def _claim(self, overwrite: bool, legacy: Optional[Callable[[str], bool]]) -> None:
        root, marker = self.root, osp.join(self.root, MARKER)
        if osp.exists(root) and not osp.isdir(root):
            raise DatasetRootIsFileError(f'dataset root {root!r} is a file')
        if osp.isfile(marker):
            try:
                with open(marker) as f:
                    previous = json.load(f)
            except (OSError, ValueError):
                previous = {}
            if previous.get('generator') != self.generator:
                raise DatasetRootError(
                    f'{root!r} holds a dataset of another generator '
                    f'({previous.get("generator")!r}, not {self.generator!r}): refusing to '
                    'write into it; choose another root')
            if not overwrite:
                raise DatasetRootError(f'{root!r} already holds a synthetic {self.generator} '
                                       'dataset; pass overwrite=True to write it again')
            self._remove(previous.get('files', []))
        elif osp.isdir(root) and os.listdir(root):
            if not (legacy is not None and legacy(root)):
                raise DatasetRootError(f'{root!r} exists and is not a synthetic dataset written '
                                       'by mmmobileone: refusing to overwrite it; choose '
                                       'another root')
            if not overwrite:
                raise DatasetRootError(f'{root!r} already holds a synthetic {self.generator} '
                                       'dataset; pass overwrite=True to write it again')
        os.makedirs(root, exist_ok=True)
        self._write_marker(complete=False)  # claimed before the first file is written

    def _remove(self, files: List[str]) -> None:
        folders = set()
        for name in files:
            path = osp.normpath(osp.join(self.root, name))
            if osp.relpath(path, self.root).startswith(os.pardir):
                continue  # a damaged marker never reaches outside root
            if osp.isfile(path):
                os.remove(path)
            folders.add(osp.dirname(path))
        for folder in sorted(folders, key=len, reverse=True):  # deepest first
            while folder != osp.normpath(self.root) and osp.isdir(folder) and \
                    not os.listdir(folder):
                os.rmdir(folder)
                folder = osp.dirname(folder)

    def _write_marker(self, complete: bool) -> None:
        with open(osp.join(self.root, MARKER), 'w') as f:
            json.dump(dict(generator=self.generator, complete=complete,
                           arguments=self.arguments, files=sorted(self.files)), f, indent=1)

    def path(self, relative: str) -> str:
        """The absolute path of file ``relative`` (its folder created), recorded as written.

        Args:
            relative: Path inside the root, with ``/`` separators.

        Returns:
            The path to write to.
        """
        path = osp.join(self.root, *relative.split('/'))
        os.makedirs(osp.dirname(path), exist_ok=True)
        self.files.append(relative)
        return path

    def write_jpeg(self, relative: str, image: np.ndarray, quality: int = 95) -> None:
        """Write a BGR ``uint8`` image as a JPEG.

        Args:
            relative: Path inside the root.
            image: The image.
            quality: JPEG quality, 0-100.
        """
        if not cv2.imwrite(self.path(relative), image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise WriteError(f'cannot write {osp.join(self.root, relative)!r}')

    def write_png(self, relative: str, image: Image.Image) -> None:
        """Write a PIL image as a PNG (label maps: mode ``'L'`` or ``'P'``).

        Args:
            relative: Path inside the root.
            image: The image.
        """
        image.save(self.path(relative), format='PNG')

    def write_text(self, relative: str, lines: List[str]) -> None:
        """Write lines of text, each ended by a newline.

        Args:
            relative: Path inside the root.
            lines: The lines, without newlines.
        """
        with open(self.path(relative), 'w') as f:
            f.writelines(f'{line}\n' for line in lines)

    def write_json(self, relative: str, data: Any) -> None:
        """Write ``data`` as JSON.

        Args:
            relative: Path inside the root.
            data: JSON-serializable data.
        """
        with open(self.path(relative), 'w') as f:
            json.dump(data, f)

    def __enter__(self) -> 'DatasetFolder':
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        """Record the written files in the marker; complete unless an exception is raised."""
        self._write_marker(complete=exc_type is None)
        if exc_type is None:
            logger.info(f'synthetic {self.generator} dataset: {len(self.files)} files in '
                        f'{self.root}')
