"""User-facing errors.

Anything a user can fix (a bad file, a bad config value, a missing model) is raised as a
``WhetError`` whose message is one line naming the problem and the fix. The CLI prints
that line and exits with code 2; everything else is a bug and keeps its traceback.
"""


class WhetError(Exception):
    """A problem in the user's input, reported as one line with the fix."""


class ConfigError(WhetError):
    """A configuration file or override is invalid."""


class DataError(WhetError):
    """A data file is missing, malformed or inconsistent."""


class ModelError(WhetError):
    """A model path, hub id or saved model cannot be used."""


class Interrupted(Exception):
    """Training stopped on request (Ctrl-C) after saving a resumable checkpoint."""
