"""nginx in front of the rig, on the configuration docs/deployment.md gives operators.

The template is read from the page (between its ``nginx-template`` markers), so
what the page says is what the tests run: :func:`render` replaces its example
hosts and listening ports with the rig's, and :class:`Balancer` runs nginx on it
as a private process (no system service, no system paths), as the suite runs
PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NGINX", "STREAM_MODULE", "Balancer", "render", "template"]

NGINX = Path("/usr/sbin/nginx")
STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")  # libnginx-mod-stream
DEPLOYMENT_DOC = Path(__file__).parents[3] / "docs" / "deployment.md"
START_LIMIT_S = 10.0
STOP_LIMIT_S = 10.0

_TEMPLATE = re.compile(
    r"<!-- nginx-template:begin -->\n```nginx\n(.*?)```\n<!-- nginx-template:end -->", re.S
)
_UPSTREAM = re.compile(r"(upstream (\w+) \{\n)((?:\s*server [^;]+;\n)+)")


def template() -> str:
    """The nginx configuration docs/deployment.md gives, as written there."""
    found = _TEMPLATE.search(DEPLOYMENT_DOC.read_text())
    assert found is not None, f"no nginx template between markers in {DEPLOYMENT_DOC}"
    return found.group(1)


def render(
    text: str,
    *,
    upstreams: dict[str, list[str]],
    rtmp_listen: str,
    http_listen: str,
) -> str:
    """``text`` with each upstream's servers and the two ``listen`` addresses replaced.

    Args:
        text: The template.
        upstreams: Upstream name -> its servers (``HOST:PORT``); every upstream
            of the template must be named.
        rtmp_listen: Where the balancer takes RTMP (replaces ``listen 1935``).
        http_listen: Where it takes HTTP (replaces ``listen 80``).
    """
    named = set()

    def servers(found: re.Match[str]) -> str:
        head, name, lines = found.groups()
        named.add(name)
        indent = lines[: len(lines) - len(lines.lstrip(" "))]
        return head + "".join(f"{indent}server {server};\n" for server in upstreams[name])

    text = _UPSTREAM.sub(servers, text)
    assert named == set(upstreams), f"the template's upstreams are {sorted(named)}"
    for old, new in (("listen 1935;", rtmp_listen), ("listen 80;", http_listen)):
        assert text.count(old) == 1, f"the template has no single {old!r}"
        text = text.replace(old, f"listen {new};")
    return text


def _main_context(prefix: Path, site: str) -> str:
    """What a private nginx needs around the site's configuration: no daemon, its pid,
    logs and temporary files under ``prefix``, and the stream module loaded."""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    site = site.replace(
        "http {\n", f"http {{\n    access_log {prefix / 'access.log'};\n{temp}\n", 1
    )
    # As root, workers would switch to "nobody", who cannot enter pytest's directories.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"load_module {STREAM_MODULE};\n{user}daemon off;\nworker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
        f"events {{ worker_connections 1024; }}\n\n{site}"
    )


@dataclass
class Balancer:
    """nginx round-robin over the rig's hosts, started and stopped by the caller.

    Attributes:
        prefix: nginx's prefix: its configuration, pid, logs, temporary files.
        http_port: Where it takes HTTP, on 127.0.0.1.
        rtmp_port: Where it takes RTMP, on 127.0.0.1.
    """

    prefix: Path
    http_port: int
    rtmp_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(
        self,
        http_hosts: list[str],
        rtmp_hosts: list[str],
        http_extra: str = "",
        rtmp_extra: str = "",
    ) -> None:
        """Write the configuration for these hosts (``HOST:PORT`` each), start nginx
        and wait until both its ports accept connections.

        ``http_extra``, ``rtmp_extra``: directives added to the ``http`` block and to
        the RTMP ``server`` of the ``stream`` block, for a test's own needs.
        """
        self.prefix.mkdir(parents=True, exist_ok=True)
        site = render(
            template(),
            upstreams={
                "trioflix_rtmp": rtmp_hosts,
                "trioflix_http": http_hosts,
                "trioflix_direct": http_hosts,
            },
            rtmp_listen=f"127.0.0.1:{self.rtmp_port}",
            http_listen=f"127.0.0.1:{self.http_port}",
        )
        conf = self.prefix / "nginx.conf"
        site = site.replace("http {\n", f"http {{\n    {http_extra}\n", 1)
        pass_rtmp = "proxy_pass trioflix_rtmp;\n"
        assert site.count(pass_rtmp) == 1, "the template's stream server has one proxy_pass"
        site = site.replace(pass_rtmp, f"{pass_rtmp}        {rtmp_extra}\n")
        conf.write_text(_main_context(self.prefix, site))
        nginx = shutil.which("nginx") or str(NGINX)
        # -e: the log nginx opens before it has read the configuration.
        command = [nginx, "-e", str(self.prefix / "error.log"), "-p", str(self.prefix)]
        subprocess.run([*command, "-t", "-c", str(conf)], check=True, capture_output=True)
        self.process = subprocess.Popen(
            [*command, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_LIMIT_S
        for port in (self.http_port, self.rtmp_port):
            while True:
                assert self.process.poll() is None, self.log()
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"nginx did not listen: {self.log()}"
                    time.sleep(0.05)

    def log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text()[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.process.wait(timeout=STOP_LIMIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
