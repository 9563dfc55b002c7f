"""The errors mmmobileone raises for problems the user can fix (issue 18, item 4).

Every error the package raises on purpose for bad input derives from :class:`MMMobileOneError`.
The command-line tools (``tools/common.py``) print such an error as one line and exit with
status 1; any other exception is a bug and keeps its traceback.

Each subclass also derives from the built-in exception that Python code would expect for the same
problem (``ValueError``, ``FileNotFoundError``, ``OSError``, ``ImportError``, ``RuntimeError``),
so ``except ValueError`` in a user's script keeps working.

=========================  ======================  =============================================
class                      also a                  raised for
=========================  ======================  =============================================
:class:`ConfigError`       ``ValueError``          a bad config value, flag or architecture
:class:`MissingPathError`  ``FileNotFoundError``   a file or folder the user named is not there
:class:`DataError`         ``ValueError``          dataset files that cannot be used as they are
:class:`CheckpointError`   ``ValueError``          an unreadable checkpoint, or one that does not
                                                   fit the model (fused vs train-time, keys)
:class:`WriteError`        ``OSError``             an output that could not be written
:class:`BackendError`      ``RuntimeError``        a deploy runtime that is missing, cannot run
                                                   here, or whose converter failed
=========================  ======================  =============================================
"""

__all__ = [
    'MMMobileOneError', 'ConfigError', 'MissingPathError', 'DataError', 'CheckpointError',
    'WriteError', 'BackendError'
]


class MMMobileOneError(Exception):
    """Base class of the errors the user can fix; the tools print them as one line."""


class ConfigError(MMMobileOneError, ValueError):
    """A config entry, command-line flag or argument has a value that is not allowed."""


class MissingPathError(MMMobileOneError, FileNotFoundError):
    """A file or folder the user named (in a config or on the command line) does not exist."""


class DataError(MMMobileOneError, ValueError):
    """Dataset files (annotations, images, folders) that cannot be used as they are."""


class CheckpointError(MMMobileOneError, ValueError):
    """A checkpoint that is unreadable, or that does not fit the model it is loaded into."""


class WriteError(MMMobileOneError, OSError):
    """An output file or folder that could not be written (full disk, no permission)."""


class BackendError(MMMobileOneError, RuntimeError):
    """A deploy runtime that is not installed, cannot run on this machine, or failed."""
