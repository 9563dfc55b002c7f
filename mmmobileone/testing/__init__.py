"""Generators of tiny datasets in the real on-disk formats, for tests and demos."""
