"""The tables of measured figures in README.md and docs/*.md are the output of their commands.

Every parameter / MAC table sits right below a code block whose command is
``tools/analysis/get_flops.py --markdown LAYOUT CONFIG ...``; this test reruns each command on
the current configs and code and compares the table, row by row, with what the docs print (to
the printed precision: the tool prints what the docs contain). A config, backbone or head whose
counts change makes it fail until the table is regenerated with its command.

The export-parity tables of docs/deployment.md follow a code block whose command is
``tools/deployment/parity_report.py --markdown LAYOUT ...`` (one table per layout, in order).
Rerunning that command takes minutes (every runtime converts three networks), so here only the
cheap part is checked: each table has the header and the rows (one per network of the tool) that
the command prints.
"""
import re
import shlex
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Tuple, Union

import pytest
from conftest import ROOT

from mmmobileone.analysis.parity_report import table_header
from mmmobileone.deploy.backends import backend_names
from tools.analysis.get_flops import markdown as flops_markdown
from tools.deployment.parity_report import ONNX_NETWORKS, RUNTIME_NETWORKS

DOCS = sorted([Path(ROOT, 'README.md'), *Path(ROOT, 'docs').glob('*.md')])
TOOL = 'tools/analysis/get_flops.py'
#: A command that prints a table (a usage line such as ``[--markdown a|b]`` is not one).
GENERATOR = re.compile(r'--markdown (configs|paper|compact)(\s|$)')
#: Where a generated table must be (a table removed by mistake would silently leave the test).
EXPECTED = {'README.md': 1, 'docs/benchmarks.md': 1, 'docs/segmentation.md': 1}
PARITY_TOOL = 'tools/deployment/parity_report.py'
PARITY_GENERATOR = re.compile(r'--markdown((\s+(onnx|runtimes|sizes))+)(\s|$)')
PARITY_EXPECTED = {'docs/deployment.md': 3}


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


def generated_tables(path: Path, tool: str = TOOL, generator: re.Pattern = GENERATOR,
                     tables: Union[int, Callable[[re.Match], int]] = 1) -> List[DocTable]:
    """Each code block of ``path`` whose command runs ``tool`` with arguments matching
    ``generator``, with the ``tables`` tables that follow it (before the next code block or
    heading)."""
    lines = path.read_text().splitlines()
    found, block, in_block = [], [], False
    for number, line in enumerate(lines):
        if line.startswith('```'):
            in_block = not in_block
            if in_block:
                block = []
                continue
            command = ' '.join(part.rstrip('\\').strip() for part in block)
            match = generator.search(command) if tool in command else None
            if match:
                count = tables if isinstance(tables, int) else tables(match)
                starts = [i for i in range(number + 1, len(lines)) if lines[i].startswith('|')
                          and not lines[i - 1].startswith('|')]
                stop = next((i for i in range(number + 1, len(lines))
                             if lines[i].startswith(('```', '#'))), len(lines))
                starts = [i for i in starts if i < stop][:count]
                assert len(starts) == count, \
                    f'{path}:{number + 1}: {count} table(s) should follow `{command}`'
                found += [DocTable(str(path.relative_to(ROOT)), start + 1, command,
                                   _table_at(lines, start)) for start in starts]
        elif in_block:
            block.append(line)
    return found


def _parity_layouts(match: re.Match) -> List[str]:
    return match.group(1).split()


TABLES = [table for path in DOCS for table in generated_tables(path)]
PARITY_TABLES = [table for path in DOCS for table in generated_tables(
    path, PARITY_TOOL, PARITY_GENERATOR, lambda match: len(_parity_layouts(match)))]


def table_headers() -> List[Tuple[str, int, str]]:
    """``(doc, 1-based line, header)`` of every table of the docs."""
    found = []
    for path in DOCS:
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if line.startswith('|') and (number == 0 or not lines[number - 1].startswith('|')):
                found.append((str(path.relative_to(ROOT)), number + 1, line))
    return found


def assert_every_table_names_its_command(tables: List[DocTable], expected: Dict[str, int],
                                         measured, what: str) -> None:
    """``tables`` sit in the docs ``expected`` says, and every table whose header ``measured``
    accepts is one of them."""
    counts = {}
    for table in tables:
        counts[table.doc] = counts.get(table.doc, 0) + 1
    assert counts == expected
    generated = {(t.doc, t.line) for t in tables}
    for doc, line, header in table_headers():
        if measured(header):
            assert (doc, line) in generated, f'{doc}:{line}: {what} table without its command'


def test_every_flops_table_of_the_docs_names_its_command():
    # any other table with parameter or MAC columns must be a measured one (latency: "ms")
    assert_every_table_names_its_command(
        TABLES, EXPECTED, lambda header: 'params' in header.lower() and 'macs' in
        header.lower() and '(ms)' not in header.lower(), 'parameter / MAC')


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


@pytest.mark.slow
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


def test_every_parity_table_of_the_docs_names_its_command():
    # any other table comparing with float64 must be one of them
    assert_every_table_names_its_command(PARITY_TABLES, PARITY_EXPECTED,
                                         lambda header: 'float32 vs float64' in header,
                                         'parity')


@pytest.mark.parametrize('table', PARITY_TABLES,
                         ids=[f'{t.doc}:{t.line}' for t in PARITY_TABLES])
def test_parity_table_has_the_header_and_rows_of_its_command(table):
    layouts = _parity_layouts(PARITY_GENERATOR.search(table.command))
    position = [t for t in PARITY_TABLES if t.command == table.command and
                t.doc == table.doc].index(table)
    layout = layouts[position]
    assert table.rows[0] == table_header(layout, backend_names()), \
        f'{table.doc}:{table.line}: not the header `{table.command}` prints for {layout!r}'
    networks = ONNX_NETWORKS if layout == 'onnx' else RUNTIME_NETWORKS
    body = table.rows[2:]
    assert len(body) == len(networks)
    for row, network in zip(body, networks):
        first = row.split('|')[1].strip()
        name = f'`{Path(network.config).name}`' if layout == 'onnx' else network.label
        assert first.startswith(name), f'{table.doc}:{table.line}: row {first!r}, want {name!r}'
