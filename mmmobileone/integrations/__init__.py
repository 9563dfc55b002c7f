"""Glue that imports a host library, one folder per host.

* :mod:`mmmobileone.integrations.mmpretrain`: progressive learning hook, scaled AutoAugment;
* :mod:`mmmobileone.integrations.mmdet`: :class:`FixedSSDHead` (mmdet 3.3.0's SSDHead, fixed);
* :mod:`mmmobileone.integrations.mmseg`: COCO mapped to the VOC classes.

Configs name the one they need in ``custom_imports``; ``import mmmobileone`` imports none.
"""
