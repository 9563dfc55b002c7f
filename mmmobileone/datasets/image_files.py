"""Image files that cannot be read: missing, empty, of an unknown format, or cut short.

:func:`image_file_problem` looks at a file's first and last bytes only; the image loading
transform of :mod:`mmmobileone.integrations.mmcv` names the file with it when decoding fails.
"""
import os
from typing import Optional

#: Leading bytes of the image formats :func:`image_file_problem` knows.
_SIGNATURES = ((b'\xff\xd8', 'JPEG'), (b'\x89PNG\r\n\x1a\n', 'PNG'), (b'BM', 'BMP'),
               (b'GIF8', 'GIF'), (b'RIFF', 'WebP'), (b'II*\x00', 'TIFF'), (b'MM\x00*', 'TIFF'))


def image_file_problem(path: str) -> Optional[str]:
    """What is wrong with the image file ``path`` at a glance, or ``None``.

    Reads at most the first and last few bytes: missing, 0 bytes, an unknown format, or a JPEG
    without its end-of-image marker or a PNG without its ``IEND`` chunk (the file was cut short,
    e.g. by an interrupted copy or download). Some cameras append data after a JPEG's end
    marker, so a missing JPEG marker is a reason to suspect, not proof: decode to be sure.
    """
    try:
        size = os.stat(path).st_size
    except OSError:
        return 'file not found'
    if size == 0:
        return 'the file is empty (0 bytes)'
    with open(path, 'rb') as f:
        head = f.read(16)
        f.seek(max(0, size - 1024))
        tail = f.read()
    kind = next((name for magic, name in _SIGNATURES if head.startswith(magic)), None)
    if kind is None:
        return f'not an image file this package knows (first bytes {head[:8]!r}, {size} bytes)'
    if kind == 'JPEG' and b'\xff\xd9' not in tail:
        return f'truncated JPEG: no end-of-image marker ({size} bytes)'
    if kind == 'PNG' and b'IEND' not in tail:
        return f'truncated PNG: no IEND chunk ({size} bytes)'
    return None
