"""Skip marks for the deploy tests: a test whose runtime package is not installed (the optional
``deploy`` extra) is skipped with the backend's own reason, not failed (issue 18, item 8)."""
import pytest

from mmmobileone.deploy.backends import get_backend


def needs_backend(*names: str, run: bool = False) -> pytest.MarkDecorator:
    """Skip unless every backend in ``names`` can export here (and, with ``run``, run)."""
    reasons = []
    for name in names:
        state = get_backend(name).available()
        if not state.can_export or (run and not state.can_run):
            reasons.append(state.reason)
    return pytest.mark.skipif(bool(reasons), reason='; '.join(reasons) or 'available')


def backend_params(*names: str, run: bool = False) -> list:
    """``pytest.param(name, marks=needs_backend(name, run=run))`` for each name, for
    ``parametrize``."""
    return [pytest.param(name, marks=needs_backend(name, run=run)) for name in names]
