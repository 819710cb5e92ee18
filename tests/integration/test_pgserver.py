"""The throw-away PostgreSQL cluster the PostgreSQL queue's tests run on."""

import os
import shutil
import subprocess

import pytest


def test_cluster_socket_only_and_removed(pg_server):
    """Reachable through its socket in its own folder, no TCP, gone after stop."""
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql (postgresql-client) not installed")
    out = subprocess.run([psql, pg_server.conninfo, "-Atc",
                          "SELECT current_setting('listen_addresses'),"
                          " current_user, current_database()"],
                         check=True, capture_output=True, text=True).stdout
    assert out.strip() == "|distd|distd"
    folder, pid = pg_server.dir, pg_server.pid
    pg_server.stop()
    assert not os.path.exists(folder)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
