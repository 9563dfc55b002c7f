"""The code base follows the lint settings in setup.cfg (flake8 and isort)."""
import subprocess
import sys

from conftest import ROOT

SOURCES = ['mmmobileone', 'tools', 'tests', 'configs']


def test_flake8_is_clean():
    result = subprocess.run([sys.executable, '-m', 'flake8', *SOURCES], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_are_sorted():
    result = subprocess.run([sys.executable, '-m', 'isort', '--check-only', '--quiet', *SOURCES],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
