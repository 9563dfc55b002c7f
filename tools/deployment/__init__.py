"""Command-line tools: deployment."""
