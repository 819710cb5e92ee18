"""A throw-away PostgreSQL cluster for the tests of the PostgreSQL queue.

initdb into a temporary folder as an unprivileged user (the tests run as
root, and postgres refuses to run as root), pg_ctl start with no TCP at all
(listen_addresses='') and the unix socket in that folder, stopped by its PID
and removed afterwards. Nothing touches a system cluster or port 5432.

From pytest:

    with PgServer() as pg:          # raises PgUnavailable with the reason
        pg.conninfo                 # "host=/tmp/… port=… dbname=distd user=distd"

From the cmocka unit tests (the Makefile's `unit` target):

    python3 tests/integration/pgserver.py run -- build/tests/test_queue_pg

starts a cluster, runs the command with DISTD_TEST_PG set to its conninfo
and stops it; where the server binaries are absent it prints why and runs
the command without DISTD_TEST_PG, so that the test prints that it skips.
"""

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DBNAME = "distd"
SUPERUSER = "distd"


class PgUnavailable(Exception):
    """Why no cluster can be run here (binaries absent, no user to run as)."""


def find_bindir():
    """The newest /usr/lib/postgresql/N/bin with initdb, pg_ctl and postgres."""
    env = os.environ.get("DISTD_PG_BINDIR")
    candidates = [env] if env else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
        reverse=True)
    for d in candidates:
        if all(os.access(os.path.join(d, b), os.X_OK)
               for b in ("initdb", "pg_ctl", "postgres")):
            return d
    raise PgUnavailable("PostgreSQL server binaries not found (no "
                        "/usr/lib/postgresql/*/bin/initdb; run scripts/install-deps)")


def _run_as():
    """argv prefix that drops root to an unprivileged user; [] when not root."""
    if os.geteuid() != 0:
        return [], None
    user = os.environ.get("DISTD_PG_USER", "nobody")
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise PgUnavailable(f"no user {user!r} to run the test cluster as "
                            "(postgres refuses root)")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise PgUnavailable("setpriv (util-linux) not found to drop root")
    return [setpriv, f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
            "--clear-groups", "--"], pw


class PgServer:
    """One cluster in a temporary folder; a context manager."""

    def __init__(self):
        self.bindir = find_bindir()
        self.prefix, self.pw = _run_as()
        self.dir = None
        self.pid = None
        self.conninfo = None

    def _as_user(self, argv, **kw):
        return subprocess.run(self.prefix + argv, check=True, capture_output=True,
                              text=True, **kw)

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="distd-pg-")
        os.chmod(self.dir, 0o700)
        if self.pw is not None:
            os.chown(self.dir, self.pw.pw_uid, self.pw.pw_gid)
        data = os.path.join(self.dir, "data")
        # the socket's port only names the socket file: no TCP is opened
        port = 40000 + os.getpid() % 20000
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        try:
            self._as_user([os.path.join(self.bindir, "initdb"), "-D", data, "-U",
                           SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync",
                           "--locale=C.UTF-8"], env=env, cwd=self.dir)
            # the superuser by trust over the socket (the tests' own
            # connection); every other role by password (scram), so that a
            # test can check that distd takes it from a password file
            hba = os.path.join(data, "pg_hba.conf")
            with open(hba, "w") as f:
                f.write(f"local all {SUPERUSER} trust\n"
                        "local all all scram-sha-256\n")
            if self.pw is not None:
                os.chown(hba, self.pw.pw_uid, self.pw.pw_gid)
            self._pg_ctl_start = [os.path.join(self.bindir, "pg_ctl"), "-D", data, "-w",
                                  "-t", "60", "-l", os.path.join(self.dir, "log"), "-o",
                                  f"-c listen_addresses='' -c unix_socket_directories={self.dir}"
                                  f" -p {port} -c fsync=off -c full_page_writes=off",
                                  "start"]
            self._env = env
            self.resume()
            self._as_user(["/usr/bin/env", f"PGHOST={self.dir}", f"PGPORT={port}",
                           os.path.join(self.bindir, "createdb"), "-U", SUPERUSER,
                           DBNAME], env=env, cwd=self.dir)
        except subprocess.CalledProcessError as e:
            log = ""
            try:
                with open(os.path.join(self.dir, "log")) as f:
                    log = f.read()[-2000:]
            except OSError:
                pass
            self.stop()
            raise RuntimeError(f"test cluster did not start: {e.cmd[len(self.prefix):]}:"
                               f" {e.stderr}{log}") from None
        self.conninfo = f"host={self.dir} port={port} dbname={DBNAME} user={SUPERUSER}"
        return self

    def resume(self):
        """Starts the postmaster of the cluster (again, after halt())."""
        self._as_user(self._pg_ctl_start, env=self._env, cwd=self.dir)
        with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
            self.pid = int(f.readline())

    def halt(self, timeout=30):
        """Stops the postmaster by its PID (fast shutdown: every session is
        cut) and keeps the cluster, for resume(): a database server that goes
        away for a while."""
        pid, self.pid = self.pid, None
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise RuntimeError(f"postmaster {pid} still running {timeout} s after SIGINT")

    def stop(self):
        """Stops the postmaster by its PID (fast shutdown), removes the folder."""
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGINT)
                for _ in range(300):
                    os.kill(self.pid, 0)
                    time.sleep(0.1)
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.pid = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv):
    if len(argv) < 3 or argv[1] != "run" or "--" not in argv:
        print("usage: pgserver.py run -- COMMAND…", file=sys.stderr)
        return 2
    cmd = argv[argv.index("--") + 1:]
    env = dict(os.environ)
    try:
        server = PgServer()
    except PgUnavailable as e:
        print(f"pgserver: no PostgreSQL test cluster: {e}", file=sys.stderr)
        env.pop("DISTD_TEST_PG", None)
        return subprocess.call(cmd, env=env)
    with server:
        env["DISTD_TEST_PG"] = server.conninfo
        env["DISTD_TEST_PG_DIR"] = server.dir
        return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
