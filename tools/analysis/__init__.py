"""Command-line tools: analysis."""
