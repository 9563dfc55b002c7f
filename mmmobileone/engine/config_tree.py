"""Walk a config (nested dicts and lists) with the dotted key of every dict in it."""
from typing import Any, Dict, Iterator, Tuple


def iter_config_dicts(node: Any, where: str) -> Iterator[Tuple[str, Dict]]:
    """``(key, dict)`` for ``node`` and every dict nested in it, depth first.

    Args:
        node: A config, or any part of it (dicts, lists and tuples are searched).
        where: The dotted key of ``node``.

    Yields:
        The dotted key of each dict, as ``--cfg-options`` accepts it (``.N`` for list entries),
        and the dict.

    Example:
        >>> list(iter_config_dicts(dict(a=[dict(b=1)]), 'cfg'))
        [('cfg', {'a': [{'b': 1}]}), ('cfg.a.0', {'b': 1})]
    """
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from iter_config_dicts(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from iter_config_dicts(value, f'{where}.{index}')
