"""User-facing errors.

Anything a user can fix (a bad file, a bad config value, a missing model) is raised as a
``WhetError`` whose message is one line naming the problem and the fix, or, for several
problems in one file, a heading line and one problem per line (``problems_message``). The
CLI prints the message and exits with code 2; everything else is a bug and keeps its traceback.
"""

# Problems listed in one message; a file with a hundred is usually one mistake repeated.
SHOWN_PROBLEMS = 10


class WhetError(Exception):
    """A problem in the user's input, reported with the fix."""


class ConfigError(WhetError):
    """A configuration file or override is invalid."""


class DataError(WhetError):
    """A data file is missing, malformed or inconsistent."""


class ModelError(WhetError):
    """A model path, hub id or saved model cannot be used."""


class Interrupted(Exception):
    """Training stopped on request (Ctrl-C) after saving a resumable checkpoint."""


def problems_message(where: str, problems: list[str]) -> str:
    """``where: 1 problem: ...`` on one line, or ``where: N problems:`` and the first ten, one a line.

    >>> print(problems_message("run.yaml", ["task: required field is missing", "training.lr: ..."]))
    run.yaml: 2 problems:
      task: required field is missing
      training.lr: ...
    """
    if len(problems) == 1:
        return f"{where}: 1 problem: {problems[0]}"
    lines = [f"{where}: {len(problems)} problems:", *(f"  {problem}" for problem in problems[:SHOWN_PROBLEMS])]
    if len(problems) > SHOWN_PROBLEMS:
        lines.append(f"  ... and {len(problems) - SHOWN_PROBLEMS} more")
    return "\n".join(lines)
