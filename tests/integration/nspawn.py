"""A throw-away systemd in systemd-nspawn, for tests of the installed unit.

The container boots this machine's own /usr (read-only) over a tmpfs root
(--volatile=yes), so it needs no image and no network. /etc and /usr/local
are overlays of the host's folders whose writable layers live in a folder
of the test: whatever is installed in the container is gone with it. The
container shares the host's network namespace, so it reaches a test relay
on 127.0.0.1. It boots to a target of its own that wants sysinit.target
only: none of the services, sockets or timers enabled on the host
(databases, mail servers, apt-daily) start in it.

Commands run inside with nsenter(1) into the namespaces of the container's
PID 1; the container is powered off with SIGTERM to systemd-nspawn (an
orderly shutdown), then SIGKILL, both by PID.
"""

import os
import pathlib
import shutil
import signal
import subprocess
import time

ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
       "LANG": "C.UTF-8", "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "",
       "SYSTEMD_LESS": ""}

BOOT_TARGET = "nspawn-test.target"


class Unavailable(Exception):
    """nspawn cannot boot a container here; the message says why."""


def cannot_boot_reason():
    """None when nspawn could be tried here, else why not."""
    if os.geteuid() != 0:
        return "systemd-nspawn needs root"
    for tool in ("systemd-nspawn", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: systemd-container, util-linux)"
    if not os.path.exists("/usr/lib/systemd/systemd"):
        return "no /usr/lib/systemd/systemd to boot"
    return None


class Container:
    def __init__(self, workdir, binds=(), name=None):
        self.dir = pathlib.Path(workdir)
        self.name = name or f"distd-test-{os.getpid()}"
        self.binds = list(binds)
        self.proc = None
        self.pid1 = None
        self.log_path = self.dir / "nspawn.log"

    def boot(self, timeout=60):
        """Boots the container; raises Unavailable when it cannot boot."""
        uppers = {}
        for dest in ("/etc", "/usr/local"):
            up = self.dir / ("layer" + dest.replace("/", "-"))
            (up / "upper").mkdir(parents=True)
            uppers[dest] = up / "upper"
        units = uppers["/etc"] / "systemd" / "system"
        units.mkdir(parents=True)
        (units / BOOT_TARGET).write_text(
            "[Unit]\nDescription=Test container: sysinit.target and nothing else\n"
            "Requires=sysinit.target\nAfter=sysinit.target\nAllowIsolate=yes\n")
        args = ["systemd-nspawn", "--quiet", "--directory=/", "--volatile=yes",
                f"--machine={self.name}",
                # no need for machined
                "--register=no",
                # the container shares the host's machine id
                "--link-journal=no",
                "--console=pipe", "--boot"]
        if not os.path.isdir("/run/systemd/system"):
            # no systemd on the host to ask for a scope: stay in our cgroup
            args.insert(-2, "--keep-unit")
        for dest, up in uppers.items():
            args.insert(-2, f"--overlay={dest}:{up}:{dest}")
        for b in self.binds:
            args.insert(-2, f"--bind-ro={b}")
        args.append(f"systemd.unit={BOOT_TARGET}")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"systemd-nspawn exited {self.proc.returncode}: "
                                  + self.log_text()[-1500:])
            if self.pid1 is None:
                self.pid1 = self._child()
            if self.pid1 is not None:
                r = self.run("systemctl is-system-running", timeout=10, check=False)
                state = r.stdout.strip()
                if state in ("running", "degraded"):
                    return self
            time.sleep(0.2)
        self.poweroff()
        raise Unavailable(f"the container did not boot within {timeout}s: "
                          + self.log_text()[-1500:])

    def _child(self):
        try:
            kids = pathlib.Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            for pid in kids.read_text().split():
                comm = pathlib.Path(f"/proc/{pid}/comm").read_text().strip()
                if comm == "systemd":
                    return int(pid)
        except OSError:
            pass
        return None

    def log_text(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def run(self, command, timeout=30, check=True, input=None):
        """Runs a shell command inside the container; returns CompletedProcess."""
        r = subprocess.run(["nsenter", f"--target={self.pid1}", "--all", "--",
                            "/bin/sh", "-c", command], capture_output=True, text=True,
                           env=ENV, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"in the container: {command}: exit {r.returncode}\n"
                                 f"{r.stdout}\n{r.stderr}")
        return r

    def write(self, path, text, mode="0644", owner="root:root"):
        self.run(f"install -D -m {mode} -o {owner.split(':')[0]} -g {owner.split(':')[1]} "
                 f"/dev/stdin {path}", input=text)

    def show(self, unit, *props):
        """systemctl show UNIT → {property: value}."""
        r = self.run(f"systemctl show {unit} " + " ".join(f"-p {p}" for p in props))
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def remove_layers(self):
        """Removes the writable layers (after poweroff); keeps nspawn.log."""
        for layer in self.dir.glob("layer-*"):
            shutil.rmtree(layer, ignore_errors=True)

    def poweroff(self, timeout=30):
        """Orderly shutdown (SIGTERM to nspawn), SIGKILL when it hangs; by PID."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                if self.pid1 is not None:
                    try:   # PID 1 of the container: ends its whole namespace
                        os.kill(self.pid1, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait(10)
        self.log.close()
        rc, self.proc = self.proc.returncode, None
        return rc
