"""Converters of published MobileOne checkpoints (Apple, timm) into our format."""
from .layouts import APPLE, LAYOUTS, TIMM, Layout, get_layout
from .rename import (ConversionError, ConversionResult, convert_state_dict, infer_arch,
                     save_converted, target_shapes, unwrap_state_dict)

__all__ = [
    'APPLE', 'LAYOUTS', 'TIMM', 'ConversionError', 'ConversionResult', 'Layout',
    'convert_state_dict', 'get_layout', 'infer_arch', 'save_converted', 'target_shapes',
    'unwrap_state_dict'
]
