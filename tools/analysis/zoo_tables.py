"""Check the model zoo against the configs and write its README tables.

Usage::

    python tools/analysis/zoo_tables.py                   # check all (about 5 min on 2 cores)
    python tools/analysis/zoo_tables.py --update          # rewrite the metafiles' counts
    python tools/analysis/zoo_tables.py --write-readmes   # regenerate configs/**/README.md
    python tools/analysis/zoo_tables.py --models NAME ... # check only these models' counts

The check fails (exit 1, one line per problem) when a shipped config is not listed exactly once
in model-index.yml, when a metafile's parameters / FLOPs (fused and unfused, at its
``Input Size``) differ from what ``tools/analysis/get_flops.py`` counts for the config, when its
``Pretrain`` is not what the config loads, or when a README differs from the generated text.
"""
import argparse
import logging
import os.path as osp
import sys
from typing import List, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import mmmobileone  # noqa: E402,F401  (registries)
from mmmobileone.analysis.zoo import (config_coverage, count_mismatches, count_model,  # noqa: E402
                                      dump_metafile, pretrain_mismatches, readme_paths,
                                      render_readme)
from mmmobileone.apis.model_zoo import (clear_cache, find_model, load_zoo,  # noqa: E402
                                        read_metafile, zoo_root)
from mmmobileone.errors import ConfigError  # noqa: E402
from tools.common import add_debug_flag, run_tool  # noqa: E402

logger = logging.getLogger('mmmobileone.tools.zoo_tables')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Check the model zoo (model-index.yml, configs/metafiles/) against the '
        'configs and write the model-zoo README of each config folder.')
    parser.add_argument('--root', help='zoo root holding model-index.yml (default: this '
                        "checkout, or the installed package's .mim)")
    parser.add_argument('--models', nargs='+', metavar='NAME',
                        help='count only these models (default: all)')
    parser.add_argument('--update', action='store_true',
                        help="rewrite the metafiles' Parameters / FLOPs from the configs")
    parser.add_argument('--write-readmes', action='store_true',
                        help='write the README of every config folder from the metafiles')
    parser.add_argument('--skip-counts', action='store_true',
                        help='do not count parameters / FLOPs (the slow part)')
    add_debug_flag(parser)
    return parser.parse_args(argv)


def update_counts(root: str, names: Optional[Sequence[str]]) -> int:
    """Recount the selected models and rewrite their metafiles; returns how many changed."""
    wanted = {n.lower() for n in names} if names else None
    changed = 0
    for model in load_zoo(root):
        if wanted is not None and model.name.lower() not in wanted:
            continue
        counts = count_model(model)
        path = osp.join(root, model.metafile)
        data = read_metafile(path)
        for entry in data['Models']:
            if entry['Name'] == model.name and any(entry['Metadata'].get(k) != v
                                                   for k, v in counts.items()):
                entry['Metadata'].update(counts)
                dump_metafile(data, path)
                changed += 1
                logger.info('%s: counts updated in %s', model.name, model.metafile)
    clear_cache()
    return changed


def check(args: argparse.Namespace, root: str) -> List[str]:
    """Every problem of the zoo, one line each (see the module docstring)."""
    problems = [f'{kind} in model-index.yml: {config}'
                for kind, configs in config_coverage(root).items() for config in configs]
    models = ([find_model(name, root) for name in args.models] if args.models else
              load_zoo(root))
    problems += pretrain_mismatches(models)
    if not args.skip_counts:
        problems += count_mismatches(models)
    for readme in readme_paths(root):
        path = osp.join(root, readme)
        current = open(path, encoding='utf-8').read() if osp.isfile(path) else None
        if current != render_readme(readme, root):
            problems.append(f'{readme} is not what the metafiles give: run '
                            'tools/analysis/zoo_tables.py --write-readmes')
    return problems


def zoo_tables(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Run as the command line says; returns the problems left (raises on user errors)."""
    args = parse_args(argv)
    root = osp.abspath(args.root or zoo_root())
    if args.update:
        logger.info('%d model(s) updated', update_counts(root, args.models))
        args.skip_counts = True  # just counted
    if args.write_readmes:
        for readme in readme_paths(root):
            with open(osp.join(root, readme), 'w', encoding='utf-8') as file:
                file.write(render_readme(readme, root))
            logger.info('wrote %s', readme)
    problems = check(args, root)
    for problem in problems:
        logger.error('%s', problem)
    if problems:
        raise ConfigError(f'{len(problems)} model zoo problem(s), listed above')
    logger.info('model zoo consistent with the configs')
    return problems


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(zoo_tables, argv)


if __name__ == '__main__':
    sys.exit(main())
