"""The issue as issued (issue 12): what recipients see and what their mail systems accept.

Both seed bulletins go through the real daemon, with the example configuration,
to the TLS test relay; the received bytes are read back with Python's email
package and, where it is installed, scored by a local SpamAssassin.
Set DISTD_RENDITION_DUMP=DIR to keep the received messages and HTML parts
(for looking at them in a browser)."""

import email
import email.policy
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, SEED_CAPITAL, SEED_MENTOUGOU, wait_for

ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def demo_conf(d, server):
    text = subprocess.run([ROOT / "scripts" / "demo-conf", d.root, str(server.port),
                           server.cafile], check=True, capture_output=True,
                          text=True).stdout
    d.conf.write_text(text, encoding="utf-8")


def deliver_seeds(smtp_server, distd):
    """Both seeds through distd with conf/distd.conf; returns {seed: raw bytes}."""
    server = smtp_server()
    d = distd(server)
    demo_conf(d, server)
    d.start()
    d.drop("capital.txt", SEED_CAPITAL.read_bytes())
    d.drop("mentougou.txt", SEED_MENTOUGOU.read_bytes())
    d.wait_states(("delivered",), count=49)
    wait_for(lambda: len(server.messages) == 2, what="both issues")
    got = {}
    for m in server.messages:
        subject = m.parsed()["Subject"]
        got["000" if "首都精神文明建设情况简报" in subject else "003"] = m.data
    assert set(got) == {"000", "003"}, list(got)
    dump = os.environ.get("DISTD_RENDITION_DUMP")
    if dump:
        os.makedirs(dump, exist_ok=True)
        for seed, data in got.items():
            pathlib.Path(dump, f"{seed}.eml").write_bytes(data)
            html = parse(data).get_body(("html",)).get_content()
            pathlib.Path(dump, f"{seed}.html").write_text(html, encoding="utf-8")
    return got


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def spamassassin_score(data, home):
    """Local SpamAssassin score of data: no network, no daemon, a private home.

    The system's rules and plugin loaders are read, nothing is written outside
    home (no Bayes, no auto-whitelist, no DNS)."""
    home.mkdir(exist_ok=True)
    prefs = home / "user_prefs"
    prefs.write_text("use_bayes 0\nuse_auto_whitelist 0\nuse_txrep 0\n"
                     "dns_available no\nskip_rbl_checks 1\n")
    env = dict(os.environ, HOME=str(home))
    out = subprocess.run(["spamassassin", "-L", "-t", "-p", str(prefs)],
                         input=data, capture_output=True, env=env, timeout=120)
    assert out.returncode in (0, 1), out.stderr.decode(errors="replace")
    status = email.message_from_bytes(out.stdout, policy=email.policy.compat32)
    m = re.search(r"score=(-?[\d.]+).*?tests=(.*)", " ".join(
        str(status["X-Spam-Status"]).split()), re.S)
    assert m, out.stdout[:2000]
    return float(m.group(1)), m.group(2)
