"""Analysis: parameters and MACs, latency measurement and the latency benchmark."""
from .complexity import (DEFAULT_SIZES, config_complexity, count_params_and_macs, format_table,
                         fused_classifier_complexity, mobileone_classifier)

__all__ = [
    'DEFAULT_SIZES', 'config_complexity', 'count_params_and_macs', 'format_table',
    'fused_classifier_complexity', 'mobileone_classifier'
]
