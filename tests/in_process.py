"""``whet`` commands run through the console entry point inside the test process.

A fresh interpreter spends seconds importing torch and transformers before a command does
anything; here they are imported once for the whole suite. What a user would see is kept:
the exit code, stdout, and stderr with whet's log lines, library log lines and warnings (under
Python's default warning filters, not pytest's), and a traceback when one escapes. The command
runs in the given working directory and environment, which are put back afterwards, as are the
logging handlers it installs. Tests of what only a process of its own shows (signals, several
processes, a server, the interpreter's exit) start one.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

# As a terminal would run it: offline, log lines unwrapped (rich wraps at 80 columns otherwise).
ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "200"}


def run_whet(*args: str | Path, cwd: str | Path | None = None, env: dict[str, str] | None = None,
             stdin: str = "") -> subprocess.CompletedProcess:
    """``whet ARGS`` with ``stdin`` typed in: its exit code, stdout and stderr."""
    from whet.cli import main

    out, err = _text_stream(), _text_stream()
    argv, cwd_before, env_before = sys.argv, os.getcwd(), dict(os.environ)
    root = logging.getLogger()
    root_handlers, root_level = root.handlers[:], root.level
    code = 0
    try:
        os.environ.update({**ENV, **(env or {})})
        if cwd is not None:
            os.chdir(cwd)
        sys.argv = ["whet", *map(str, args)]
        with (_library_logs_to(err), _standard_streams(stdin, out, err), _default_warnings()):
            try:
                main()
            except SystemExit as exit_:
                code = _exit_status(exit_.code, err)
            except BaseException:  # as the interpreter does with what escapes
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = argv
        os.chdir(cwd_before)
        for key in os.environ.keys() - env_before.keys():
            del os.environ[key]
        os.environ.update(env_before)
        for handler in root.handlers[:]:
            if handler not in root_handlers:
                root.removeHandler(handler)
        for handler in root_handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(root_level)
    return subprocess.CompletedProcess(["whet", *map(str, args)], code, _read(out), _read(err))


def _text_stream() -> io.TextIOWrapper:
    # Text with a binary buffer underneath, as sys.stdout has: some output is written as bytes.
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)


def _read(stream: io.TextIOWrapper) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8")


@contextlib.contextmanager
def _standard_streams(stdin: str, out: io.TextIOWrapper, err: io.TextIOWrapper) -> Iterator[None]:
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8")
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved


@contextlib.contextmanager
def _library_logs_to(err: io.TextIOWrapper) -> Iterator[None]:
    """Log handlers made on import write to the stderr of that moment (transformers' does):
    point those on stderr at the command's for its run."""
    loggers = [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    moved = [(handler, handler.stream) for logger in loggers for handler in logger.handlers
             if type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.__stderr__)]
    for handler, _ in moved:
        handler.setStream(err)
    try:
        yield
    finally:
        for handler, stream in moved:
            handler.setStream(stream)


@contextlib.contextmanager
def _default_warnings() -> Iterator[None]:
    """Python's own warning filters, printed to stderr (pytest records them instead)."""
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.resetwarnings()
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)
        warnings.showwarning = show
        yield


def _exit_status(code: object, err: io.TextIOWrapper) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    err.write(f"{code}\n")  # sys.exit("message") prints it and exits 1
    return 1
