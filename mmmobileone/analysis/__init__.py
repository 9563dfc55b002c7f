"""Analysis: parameters and MACs, latency measurement and the latency benchmark."""
from .complexity import (DEFAULT_SIZES, MARKDOWN_LAYOUTS, PAPER_CLASSIFIERS, config_complexity,
                         count_params_and_macs, format_compact_table, format_paper_table,
                         format_table, fused_classifier_complexity, markdown_table,
                         mobileone_classifier)

__all__ = [
    'DEFAULT_SIZES', 'MARKDOWN_LAYOUTS', 'PAPER_CLASSIFIERS', 'config_complexity',
    'count_params_and_macs', 'format_compact_table', 'format_paper_table', 'format_table',
    'fused_classifier_complexity', 'markdown_table', 'mobileone_classifier'
]
