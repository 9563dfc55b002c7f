"""The code base follows the lint settings in setup.cfg (flake8 and isort), and imports at the
top of modules except where a comment says why not."""
import ast
import glob
import io
import os.path as osp
import re
import subprocess
import sys
import tokenize
from typing import Iterator, List, Set, Tuple

from conftest import ROOT

SOURCES = ['mmmobileone', 'tools', 'tests', 'configs']
#: Where every function-local import must carry a comment that says why it is not at the top.
IMPORT_CHECKED = ['mmmobileone', 'tools']
#: A comment that is only a lint directive (``# noqa: F401``) gives no reason.
_DIRECTIVE = re.compile(r'#\s*noqa(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)?\s*')


def test_flake8_is_clean():
    result = subprocess.run([sys.executable, '-m', 'flake8', *SOURCES], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_are_sorted():
    result = subprocess.run([sys.executable, '-m', 'isort', '--check-only', '--quiet', *SOURCES],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _comments(source: str) -> Tuple[Set[int], Set[int]]:
    """Lines with a comment that says something (not only ``noqa``), and the lines that hold
    only a comment."""
    with_reason, comment_only = set(), set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            line, column = token.start
            if _DIRECTIVE.sub('', token.string).strip('# '):
                with_reason.add(line)
            if not token.line[:column].strip():
                comment_only.add(line)
    return with_reason, comment_only


def function_local_imports(source: str) -> Iterator[Tuple[int, bool]]:
    """``(line, commented)`` for each import statement inside a function of ``source``.

    ``commented``: a comment with a reason on one of the statement's lines, or a comment line
    right above it.
    """
    with_reason, comment_only = _comments(source)
    seen = set()
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno not in seen:
                seen.add(node.lineno)
                lines = set(range(node.lineno, node.end_lineno + 1))
                above = node.lineno - 1
                yield node.lineno, bool(lines & with_reason or
                                        (above in comment_only and above in with_reason))


def _uncommented_local_imports(paths: List[str]) -> List[str]:
    offenders = []
    for path in paths:
        with open(path, encoding='utf-8') as f:
            source = f.read()
        offenders += [f'{osp.relpath(path, ROOT)}:{line}'
                      for line, commented in function_local_imports(source) if not commented]
    return offenders


def test_function_local_import_check_sees_comments():
    source = ('def f():\n'
              '    import a  # optional: a\n'
              '    # optional: b, only here\n'
              '    import b\n'
              '    import c  # noqa: F401\n'
              '    import d\n'
              '\n'
              'import e\n')
    assert list(function_local_imports(source)) == [(2, True), (4, True), (5, False),
                                                    (6, False)]


def test_function_local_imports_say_why():
    """Imports go at the top of a module; one inside a function (a heavy or optional package
    that must stay unimported, an import cycle) carries a comment that says why, on its line or
    the line above."""
    paths = [path for source in IMPORT_CHECKED
             for path in sorted(glob.glob(osp.join(ROOT, source, '**', '*.py'), recursive=True))]
    assert len(paths) > 50
    offenders = _uncommented_local_imports(paths)
    assert not offenders, ('function-local imports without a comment saying why (move them to '
                           'the top of the module, or say which optional or heavy package must '
                           'stay unimported): ' + ', '.join(offenders))
