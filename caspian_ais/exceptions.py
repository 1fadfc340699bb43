"""Exceptions raised by caspian_ais.

Every error the library raises on purpose derives from :class:`CaspianAISError`, so
callers can catch one type. Messages name the file, the row or column, and what was
expected, so that the command line can print them as a single line.
"""

from __future__ import annotations

__all__ = [
    "CaspianAISError",
    "InputError",
    "FormatDetectionError",
    "MissingColumnError",
    "SourceNotFoundError",
    "UnreadableFileError",
    "SchemaError",
]


class CaspianAISError(Exception):
    """Base class of every error raised by caspian_ais."""


class InputError(CaspianAISError):
    """An input file cannot be used.

    Parameters
    ----------
    path : str
        The file concerned.
    message : str
        What is wrong and what was expected.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


class SourceNotFoundError(InputError):
    """A path, glob or directory given as input matches no file."""


class UnreadableFileError(InputError):
    """A file exists but cannot be opened or decompressed (truncated zip, bad gzip, ...)."""


class FormatDetectionError(InputError):
    """The format of a file could not be recognised from its header or content."""


class MissingColumnError(InputError):
    """A file lacks a column that its format requires.

    Parameters
    ----------
    path : str
        The file concerned.
    missing : list of str
        The required columns that were not found.
    found : list of str, optional
        The columns the file does have.
    """

    def __init__(self, path: str, missing: list[str], found: list[str] | None = None) -> None:
        self.missing = list(missing)
        self.found = list(found or [])
        msg = "missing required column(s) " + ", ".join(repr(m) for m in self.missing)
        if self.found:
            shown = ", ".join(self.found[:20]) + (", ..." if len(self.found) > 20 else "")
            msg += f" (found: {shown})"
        super().__init__(path, msg)


class SchemaError(CaspianAISError):
    """A table handed to a caspian_ais function is not a valid canonical AIS table."""
