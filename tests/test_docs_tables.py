"""The parameter / MAC tables of README.md and docs/*.md are the output of their commands.

Every such table sits right below a code block whose command is
``tools/analysis/get_flops.py --markdown LAYOUT CONFIG ...``; this test reruns each command on
the current configs and code and compares the table, row by row, with what the docs print (to
the printed precision: the tool prints what the docs contain). A config, backbone or head whose
counts change makes it fail until the table is regenerated with its command.
"""
import re
import shlex
from pathlib import Path
from typing import Dict, List, NamedTuple, Tuple

import pytest
from conftest import ROOT

from tools.analysis.get_flops import markdown as flops_markdown

DOCS = sorted([Path(ROOT, 'README.md'), *Path(ROOT, 'docs').glob('*.md')])
TOOL = 'tools/analysis/get_flops.py'
#: A command that prints a table (a usage line such as ``[--markdown a|b]`` is not one).
GENERATOR = re.compile(r'--markdown (configs|paper|compact)(\s|$)')
#: Where a generated table must be (a table removed by mistake would silently leave the test).
EXPECTED = {'README.md': 1, 'docs/benchmarks.md': 1, 'docs/segmentation.md': 1}


class DocTable(NamedTuple):
    doc: str
    line: int  # 1-based line of the table's header
    command: str
    rows: List[str]


def expand_braces(word: str) -> List[str]:
    """Bash brace expansion (``a{1,2}b{x,y}`` -> ``a1bx a1by a2bx a2by``), unnested."""
    match = re.search(r'\{([^{}]*,[^{}]*)\}', word)
    if match is None:
        return [word]
    return [expanded for alternative in match.group(1).split(',')
            for expanded in expand_braces(word[:match.start()] + alternative +
                                          word[match.end():])]


def tool_arguments(command: str) -> List[str]:
    """The arguments after the script path, shell-split and brace-expanded."""
    words = shlex.split(command)
    return [expanded for word in words[words.index(TOOL) + 1:] for expanded in
            expand_braces(word)]


def _table_at(lines: List[str], start: int) -> List[str]:
    rows = []
    for line in lines[start:]:
        if not line.startswith('|'):
            break
        rows.append(line.rstrip())
    return rows


def generated_tables(path: Path) -> List[DocTable]:
    """Each ``get_flops.py --markdown`` code block of ``path`` with the first table after it."""
    lines = path.read_text().splitlines()
    found, block, in_block = [], [], False
    for number, line in enumerate(lines):
        if line.startswith('```'):
            in_block = not in_block
            if in_block:
                block = []
                continue
            command = ' '.join(part.rstrip('\\').strip() for part in block)
            if TOOL in command and GENERATOR.search(command):
                start = next(i for i in range(number + 1, len(lines))
                             if lines[i].startswith('|') or lines[i].startswith('```'))
                assert lines[start].startswith('|'), f'{path}:{number + 1}: no table follows'
                found.append(DocTable(str(path.relative_to(ROOT)), start + 1, command,
                                      _table_at(lines, start)))
        elif in_block:
            block.append(line)
    return found


TABLES = [table for path in DOCS for table in generated_tables(path)]


def test_every_flops_table_of_the_docs_names_its_command():
    counts = {}
    for table in TABLES:
        counts[table.doc] = counts.get(table.doc, 0) + 1
    assert counts == EXPECTED
    # any other table with parameter or MAC columns must be a measured one (latency: "ms")
    generated = {(t.doc, t.line) for t in TABLES}
    for path in DOCS:
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            starts_table = line.startswith('|') and (number == 0 or
                                                     not lines[number - 1].startswith('|'))
            header = line.lower()
            if starts_table and 'params' in header and 'macs' in header:
                doc = str(path.relative_to(ROOT))
                assert (doc, number + 1) in generated or '(ms)' in header, \
                    f'{doc}:{number + 1}: parameter / MAC table without its get_flops command'


def test_brace_expansion_and_arguments_follow_the_shell():
    assert expand_braces('a{1,2}b{x,y}.py') == ['a1bx.py', 'a1by.py', 'a2bx.py', 'a2by.py']
    assert tool_arguments(f"python {TOOL} --markdown paper c_{{s0,mu0}}.py 'm::x y.py'") == [
        '--markdown', 'paper', 'c_s0.py', 'c_mu0.py', 'm::x y.py']


#: (config, shape, fused, task, cfg_options) -> counts, shared by the tables (the paper's
#: DeepLabV3 configs are in two of them, the ImageNet configs in two).
_COUNTS: Dict[Tuple, Dict] = {}


@pytest.fixture
def shared_counts(monkeypatch):
    """Count each config and form once for all tables, run from the repository root."""
    import mmmobileone.analysis as analysis
    count = analysis.config_complexity

    def cached(config, shape=None, fused=True, task='auto', cfg_options=None):
        key = (config, tuple(shape or ()), fused, task, repr(cfg_options))
        if key not in _COUNTS:
            _COUNTS[key] = count(config, shape, fused=fused, task=task, cfg_options=cfg_options)
        return dict(_COUNTS[key])

    monkeypatch.setattr(analysis, 'config_complexity', cached)
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize('table', TABLES, ids=[f'{t.doc}:{t.line}' for t in TABLES])
def test_docs_table_equals_the_output_of_its_command(table, shared_counts):
    expected = flops_markdown(tool_arguments(table.command)).splitlines()
    differing = [f'docs: {doc}\ntool: {tool}' for doc, tool in zip(table.rows, expected)
                 if doc != tool]
    # pytest.fail, not an assert message: pytest's assertion rewriting chokes on the braces of
    # the command (e.g. ``s{0,1,2,3,4}``)
    if differing or len(table.rows) != len(expected):
        pytest.fail(
            f'{table.doc}:{table.line} differs from `{table.command}` ({len(table.rows)} rows in '
            f'the docs, {len(expected)} from the tool); regenerate it with that command:\n'
            + '\n'.join(differing), pytrace=False)
