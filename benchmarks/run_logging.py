"""The log set-up the benchmark scripts share: whet's INFO lines on stderr, chatty libraries quiet."""

from __future__ import annotations

import logging
import sys

QUIET = ("httpx", "urllib3", "filelock", "huggingface_hub", "matplotlib", "PIL")


def log_to_stderr(*also_quiet: str) -> None:
    """INFO and above to stderr with a timestamp; QUIET (and ``also_quiet``) only from WARNING."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in (*QUIET, *also_quiet):
        logging.getLogger(noisy).setLevel(logging.WARNING)
