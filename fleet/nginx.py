"""The fleet's nginx configuration: TLS on 127.0.0.1, four ports.

- ``shared``: ``/oauth/``, ``/.well-known/``, ``/api/`` and ``/admin/`` round-robin to A and B;
- ``a`` and ``b``: the same paths, to one instance only (so a test can pick one);
- ``rs``: ``/api/`` to the resource project.

nginx reaches each app over its unix socket (gunicorn trusts ``X-Forwarded-Proto`` only
there), buffers whole request bodies before it bothers a sync worker
(``proxy_request_buffering on``, short client timeouts: a slow client ties up nginx, not a
worker), and sets the forwarding headers itself, overwriting whatever the client sent. Its
access log has no query string, no ``Authorization`` and no other header.
"""

from __future__ import annotations

AS_PATHS = ("/oauth/", "/.well-known/", "/api/", "/admin/")

TEMPLATE = """\
# Written by `python -m fleet up`; removed by `python -m fleet down`.
{user_line}
worker_processes 1;
daemon off;
pid {run}/nginx.pid;
error_log {logs}/nginx-error.log warn;

events {{
    worker_connections 512;
}}

http {{
    default_type application/octet-stream;
    server_tokens off;
    log_format fleet '$remote_addr [$time_iso8601] :$server_port '
                     '"$request_method $uri $server_protocol" $status $body_bytes_sent '
                     '$request_time upstream=$upstream_addr';
    access_log {logs}/nginx-access.log fleet;

    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;

    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;

    # A slow client is nginx's problem, never a sync worker's.
    client_header_timeout 5s;
    client_body_timeout 5s;
    send_timeout 10s;
    keepalive_timeout 10s;
    client_max_body_size 64k;
    proxy_request_buffering on;
    proxy_buffering on;
    proxy_connect_timeout 2s;
    proxy_send_timeout 10s;
    proxy_read_timeout 30s;

    # Set here, never taken from the client (an empty value drops the header).
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-Proto https;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-Host "";
    proxy_set_header X-Forwarded-Port "";
    proxy_set_header X-Forwarded-Protocol "";
    proxy_set_header X-Forwarded-Ssl "";
    proxy_set_header Forwarded "";

    upstream fleet_ab {{
        server unix:{sock_a} max_fails=0;
        server unix:{sock_b} max_fails=0;
    }}
    upstream fleet_a {{
        server unix:{sock_a};
    }}
    upstream fleet_b {{
        server unix:{sock_b};
    }}
    upstream fleet_rs {{
        server unix:{sock_rs};
    }}

{servers}
}}
"""

SERVER = """\
    server {{  # {comment}
        listen 127.0.0.1:{port} ssl;
        server_name _;
{locations}
        location / {{
            return 404;
        }}
    }}
"""

LOCATION = """\
        location {path} {{
            proxy_pass http://{upstream};
        }}
"""


def _server(comment: str, port: int, upstream: str, paths: tuple[str, ...]) -> str:
    locations = "".join(LOCATION.format(path=p, upstream=upstream) for p in paths)
    return SERVER.format(comment=comment, port=port, locations=locations)


def render(*, ports: dict[str, int], sockets: dict[str, str], cert: str, key: str, run: str,
           logs: str, temp: str, user_line: str) -> str:
    servers = "\n".join([
        _server("shared: round-robin to A and B", ports["shared"], "fleet_ab", AS_PATHS),
        _server("instance A only", ports["a"], "fleet_a", AS_PATHS),
        _server("instance B only", ports["b"], "fleet_b", AS_PATHS),
        _server("the resource project", ports["rs"], "fleet_rs", ("/api/",)),
    ])
    return TEMPLATE.format(user_line=user_line, run=run, logs=logs, temp=temp, cert=cert,
                           key=key, sock_a=sockets["a"], sock_b=sockets["b"],
                           sock_rs=sockets["rs"], servers=servers)
