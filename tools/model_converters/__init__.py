"""Command-line tools: model_converters."""
