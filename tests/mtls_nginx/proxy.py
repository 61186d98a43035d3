"""An nginx on 127.0.0.1 that terminates TLS, asks for a client certificate and passes it to
a Django server, the way docs/howto/mtls.md tells a deployment to (RFC 8705 §6.5, MTLS-08).

It reuses the fleet's helpers (``fleet.tls`` for the server certificate, ``fleet.procs`` to
start and stop processes by recorded pid and start time); everything lives in one temporary
folder, removed by ``stop()``.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet import procs, tls

CERT_HEADER = "X-SSL-Client-Cert"
VERIFY_HEADER = "X-SSL-Client-Verify"

TEMPLATE = """\
# Written by tests/mtls_nginx/proxy.py for tests/test_mtls_nginx.py.
{user_line}
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;

events {{
    worker_connections 64;
}}

http {{
    access_log off;
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;

    server {{
        listen 127.0.0.1:{port} ssl;
        server_name _;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {server_cert};
        ssl_certificate_key {server_key};

        # Ask every client for a certificate; accept one from any issuer (self-signed
        # certificates, for self_signed_tls_client_auth), and say in $ssl_client_verify
        # whether it chains to the CA that tls_client_auth trusts.
        ssl_verify_client optional_no_ca;
        ssl_client_certificate {client_ca};
        ssl_verify_depth 2;

        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            # Set here, never taken from the client: proxy_set_header replaces a header the
            # client sent under the same name, and an empty value (no certificate) drops it.
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header {cert_header} $ssl_client_escaped_cert;
            proxy_set_header {verify_header} $ssl_client_verify;
        }}
    }}
}}
"""


def binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None


@dataclass
class Proxy:
    folder: Path
    port: int
    ca: str  # what HTTP clients trust for the server certificate
    process: dict[str, Any]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        procs.stop(self.process)
        shutil.rmtree(self.folder, ignore_errors=True)


def start(upstream_port: int, client_ca_pem: str) -> Proxy:
    """nginx in front of ``127.0.0.1:upstream_port``, trusting ``client_ca_pem`` for client
    certificates. Raises ``fleet.procs.FleetError`` when it does not start."""
    executable = binary()
    if executable is None:
        raise procs.FleetError("nginx not found: apt-get install nginx")
    folder = Path(tempfile.mkdtemp(prefix="oauthcc-mtls."))
    try:
        folder.chmod(0o711)  # workers (nobody, when run as root) reach temp/
        certs = tls.make_certificates(folder / "tls")
        client_ca = folder / "tls" / "client-ca.pem"
        client_ca.write_text(client_ca_pem)
        temp = folder / "temp"
        temp.mkdir(mode=0o755)
        user_line = ""
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            user_line = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
            for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                (temp / sub).mkdir(mode=0o700)
                os.chown(temp / sub, nobody.pw_uid, nobody.pw_gid)
        port = procs.free_ports(1)[0]
        conf = folder / "nginx.conf"
        conf.write_text(TEMPLATE.format(
            user_line=user_line, folder=folder, temp=temp, port=port,
            server_cert=certs["cert"], server_key=certs["key"], client_ca=client_ca,
            upstream_port=upstream_port, cert_header=CERT_HEADER,
            verify_header=VERIFY_HEADER))
        log = folder / "error.log"
        command = [executable, "-p", f"{folder}/", "-c", str(conf), "-e", str(log)]
        procs.run([*command, "-t", "-q"], cwd=folder, what="nginx -t", timeout=30)
        proc = procs.spawn(command, env={"PATH": os.environ.get("PATH", "")}, log=log,
                           cwd=folder)
        proxy = Proxy(folder, port, certs["ca"], procs.record(proc.pid))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        procs.wait_until(lambda: procs.tcp_open(port), what="nginx", timeout=30, proc=proc,
                         log=log)
    except BaseException:
        proxy.stop()
        raise
    return proxy
