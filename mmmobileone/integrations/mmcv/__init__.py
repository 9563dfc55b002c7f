"""mmcv glue (mmpretrain, mmdet and mmseg all load images with mmcv's transform).

Registers :class:`LoadImageFromFile`, mmcv's transform of that name with errors that name the
image file and say what is wrong with it (0 bytes, truncated, not an image).
"""
from .loading import LoadImageFromFile, UnreadableImageError

__all__ = ['LoadImageFromFile', 'UnreadableImageError']
