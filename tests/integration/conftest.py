"""Fixtures for the integration tests: built binaries, seeds, SMTP servers."""

import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from smtpserver import SMTPServer, make_certificate  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DISTD_BUILD", ROOT / "build"))
SEEDS = pathlib.Path(os.environ.get("DISTD_SEEDS", ROOT.parent / "shared" / "seeds"))
SEED_CAPITAL = SEEDS / "000_320506797a6b7d3b.txt"
SEED_MENTOUGOU = SEEDS / "003_b2bbb6446a891427.txt"


@pytest.fixture(scope="session")
def binaries():
    distd, distctl = BUILD / "distd", BUILD / "distctl"
    for b in (distd, distctl):
        assert b.exists(), f"{b} is missing: run make first"
    return {"distd": str(distd), "distctl": str(distctl)}


def run(args, **kw):
    """Runs a command with a bound on time; returns CompletedProcess (text)."""
    kw.setdefault("timeout", 60)
    return subprocess.run([str(a) for a in args], capture_output=True,
                          text=True, **kw)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A throw-away certificate for 127.0.0.1, made with the openssl CLI."""
    return make_certificate(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def smtp_server(certificate):
    """Factory: smtp_server(mode="implicit"|"starttls", auth=(user, pw)).

    Each server listens on its own free port on 127.0.0.1 and is stopped
    when the test ends."""
    started = []

    def start(mode="implicit", **kw):
        server = SMTPServer(*certificate, mode=mode, **kw).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
