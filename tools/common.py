"""What every command-line tool shares: logging setup, one-line user errors, exit codes.

A user error is an :class:`~mmmobileone.errors.MMMobileOneError` (a missing file the user named,
a bad value, a corrupt checkpoint, a full disk, ...): it is logged as one line and turns into
exit status 1. Any other exception (a ``ValueError`` of mmengine or mmdet included) is a bug
somewhere and keeps its traceback. ``--debug`` (or ``MMMOBILEONE_DEBUG=1``) shows the traceback
of user errors too.
"""
import argparse
import logging
import os
import os.path as osp
import sys
from typing import Callable, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, ROOT)

from mmengine.config import DictAction  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmmobileone.deploy.outputs import TASKS  # noqa: E402
from mmmobileone.errors import MMMobileOneError  # noqa: E402

#: Exit status of the tools for a user error (bad path, value, checkpoint or flag).
EXIT_USER_ERROR = 1
#: Errors that are the user's to fix; anything else is a bug and keeps its traceback.
USER_ERRORS = (MMMobileOneError, )
DEBUG_ENV = 'MMMOBILEONE_DEBUG'
WORKFLOW_DOCS = 'docs/workflow.md'

logger = logging.getLogger('mmmobileone.tools')


def setup_logging(level: int = logging.INFO) -> None:
    """Log this package's messages as ``TIME - mmmobileone - LEVEL - message`` on stderr."""
    package_logger = logging.getLogger('mmmobileone')
    if not package_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter('%(asctime)s - mmmobileone - %(levelname)s - '
                                               '%(message)s'))
        package_logger.addHandler(handler)
    package_logger.setLevel(level)


def add_cfg_options(parser: argparse.ArgumentParser,
                    example: str = 'model.backbone.deploy=True') -> None:
    """``--cfg-options k=v ...``: config overrides, as in every OpenMMLab tool."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help=f'override config entries, e.g. {example}')


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--debug', action='store_true',
                        help=f'show the full traceback of an error (or set {DEBUG_ENV}=1)')


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """CONFIG, CHECKPOINT, ``--shape H W`` and ``--task``: what the export tools take."""
    parser.add_argument('config', help='mmpretrain / mmdet / mmseg config file')
    parser.add_argument('checkpoint', help='training (unfused) or deploy (fused) checkpoint')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: 224 classification, 320 detection, 512 '
                        'segmentation)')
    parser.add_argument('--task', default='auto', choices=['auto', *TASKS],
                        help='default: from the model (bbox_head / decode_head / classifier)')


def debug_requested(argv: Optional[Sequence[str]] = None) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    return '--debug' in argv or os.environ.get(DEBUG_ENV, '') not in ('', '0')


def report_user_error(error: BaseException, docs: str = WORKFLOW_DOCS) -> int:
    """Log ``error`` as one line (with a pointer to the docs); return :data:`EXIT_USER_ERROR`."""
    message = ' '.join(str(error).split()) or type(error).__name__
    hint = '' if docs in message else f' (see {docs})'
    logger.error(f'{message}{hint}')
    return EXIT_USER_ERROR


def run_tool(main: Callable[[Optional[Sequence[str]]], object],
             argv: Optional[Sequence[str]] = None, docs: str = WORKFLOW_DOCS) -> int:
    """Run ``main(argv)``: 0 on success, one logged line and status 1 on a user error.

    User errors are :data:`USER_ERRORS` (:class:`~mmmobileone.errors.MMMobileOneError`); every
    other exception propagates with its traceback (Python exits with status 1).
    """
    setup_logging()
    try:
        main(argv)
    except USER_ERRORS as error:
        if debug_requested(argv):
            raise
        return report_user_error(error, docs)
    return 0


def build_runner(cfg):
    """mmengine's ``Runner.from_cfg(cfg)``, or the registered ``runner_type`` (as mmyolo)."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
