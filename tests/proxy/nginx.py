"""Debian's nginx, started by a test with the configuration docs/deployment.md documents.

The `nginx` block is read from the page itself; only the listen address, the upstream's
port and the certificate paths are replaced (each must occur exactly once, so the test
breaks loudly when the page changes shape). It is wrapped in a minimal main context that
keeps every file nginx writes in the test's directory, and runs in the foreground as one
process (`master_process off`: no workers to reap, no switch to another user).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT_DOC = REPO / "docs" / "deployment.md"
START_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.05


def nginx_binary() -> str | None:
    """Debian installs it in /usr/sbin, which a non-root PATH often lacks."""
    found = shutil.which("nginx")
    if found is None and Path("/usr/sbin/nginx").exists():
        found = "/usr/sbin/nginx"
    return found


def documented_config() -> str:
    blocks = re.findall(r"```nginx\n(.*?)```", DEPLOYMENT_DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "docs/deployment.md should hold exactly one ```nginx block"
    return str(blocks[0])


def _replace_once(text: str, old: str, new: str) -> str:
    count = text.count(old)
    assert count == 1, f"the documented nginx block has {old!r} {count} times, expected once"
    return text.replace(old, new)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1: (certificate, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def full_config(directory: Path, port: int, app_port: int, cert: Path, key: Path) -> str:
    site = documented_config()
    site = _replace_once(site, "listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    site = _replace_once(site, "server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
    site = re.sub(r"(ssl_certificate\s+)\S+;", rf"\g<1>{cert};", site)
    site = re.sub(r"(ssl_certificate_key\s+)\S+;", rf"\g<1>{key};", site)
    assert str(cert) in site, "the documented nginx block has no ssl_certificate line"
    assert str(key) in site, "the documented nginx block has no ssl_certificate_key line"
    temp = {name: directory / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    return f"""
daemon off;
master_process off;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
{site}
}}
"""


class Nginx:
    def __init__(self, binary: str, directory: Path, port: int) -> None:
        self.binary = binary
        self.directory = directory
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def error_log(self) -> str:
        """What nginx said: before reading its configuration, then in its error log."""
        paths = [self.directory / "stderr.log", self.directory / "error.log"]
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())

    def start(self, app_port: int, cert: Path, key: Path) -> None:
        conf = self.directory / "nginx.conf"
        conf.write_text(full_config(self.directory, self.port, app_port, cert, key))
        # -e: the log for the time before the configuration is read (Debian's default,
        # /var/log/nginx/error.log, may not be writable).
        with open(self.directory / "stderr.log", "wb") as stderr:
            self.proc = subprocess.Popen(
                [self.binary, "-p", str(self.directory), "-c", str(conf), "-e", "stderr"],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.error_log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(POLL_INTERVAL_S)  # polling the port, not waiting for a guess
        raise RuntimeError(f"nginx did not listen within {START_TIMEOUT_S} s\n{self.error_log}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
