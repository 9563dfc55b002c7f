"""Command-line tools (importable so that tests and the quickstart can call them in-process)."""
