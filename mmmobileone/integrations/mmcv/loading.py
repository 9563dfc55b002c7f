"""mmcv's ``LoadImageFromFile`` with errors that name the file.

mmcv 2.x decodes the bytes of the image file and re-raises whatever the decoder raised: for a
0-byte file OpenCV's ``!buf.empty() in function 'imdecode_'`` (no file name), for a truncated
JPEG an ``AssertionError: failed to load image: PATH`` that does not say why. Inside a
DataLoader worker either stops training mid-epoch. :class:`LoadImageFromFile` raises
:class:`UnreadableImageError` (an ``OSError``) instead, e.g. ``cannot read image
'data/x/images/0042.jpg': the file is empty (0 bytes)``; with ``ignore_empty=True`` it skips the
image (mmengine's dataset then draws another one in training) and logs the file and how many
images were skipped so far. Everything else is mmcv's.
"""
import logging
from typing import Optional

from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmengine.logging import print_log

from ...datasets.image_files import image_file_problem
from ...errors import MMMobileOneError
from ...registry import TRANSFORMS


class UnreadableImageError(MMMobileOneError, OSError):
    """An image file that cannot be decoded; the message names the file and the reason."""


@TRANSFORMS.register_module()
class LoadImageFromFile(MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile``; an unreadable file raises an error that names it.

    Same arguments and results as mmcv's transform (a drop-in: ``type='LoadImageFromFile'``
    becomes ``type='mmmobileone.LoadImageFromFile'``).

    Raises:
        UnreadableImageError: If the file is missing, empty, truncated or not an image (unless
            ``ignore_empty``: then the image is skipped, logged and counted in
            :attr:`num_skipped`).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.num_skipped = 0

    def _problem(self, path: str, error: Optional[BaseException]) -> str:
        local = self.backend_args is None and self.file_client_args is None
        problem = image_file_problem(path) if local else None
        if problem is None:
            problem = ' '.join(str(error).split()) if error is not None else 'cannot be decoded'
            problem = f'{type(error).__name__ if error is not None else "decoder"}: {problem}'
        return problem

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        try:
            loaded = super().transform(results)
        except Exception as error:  # whatever the decoder or the file backend raised
            raise UnreadableImageError(f'cannot read image {path!r}: '
                                       f'{self._problem(path, error)}') from error
        if loaded is None:  # ignore_empty=True: mmcv skips the image silently
            self.num_skipped += 1
            print_log(f'skipped unreadable image {path!r} ({self._problem(path, None)}); '
                      f'{self.num_skipped} image(s) skipped so far by this loader',
                      logger='current', level=logging.WARNING)
        return loaded
