"""Fixtures for the integration tests of every package: a real PostgreSQL server."""

from __future__ import annotations

import pytest


def _postgres_binary(name: str) -> str:
    import glob
    import shutil

    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.fail(f"PostgreSQL is missing ({name}): run `make postgres` (apt-get install postgresql)", pytrace=False)
    return found


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server started on loopback in a temp dir for this test session; its URL."""
    import os
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from tests.integration.serve.conftest import free_port

    # Not under pytest's temp folders: those are private to the user running the tests, and
    # initdb refuses to run as root, so a root test run starts the server as the postgres user.
    root = Path(tempfile.mkdtemp(prefix="whet-postgres-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    data, port = root / "data", free_port()
    subprocess.run([*as_user, _postgres_binary("initdb"), "-D", str(data), "-U", "whet", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, _postgres_binary("pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
                    "-o", f"-p {port} -h 127.0.0.1 -k {root}", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://whet@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, _postgres_binary("pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
