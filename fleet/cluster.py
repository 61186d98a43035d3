"""Start and stop the fleet: PostgreSQL, Redis, authorization-server instances A and B, the
resource project, and nginx in front, all on 127.0.0.1, all in one temporary folder.

``up()`` writes a JSON state file (mode 0600; ``fleet/.state.json`` unless
``FLEET_STATE_FILE`` says otherwise) as soon as the folder exists and again after each process
starts, so ``down()`` can always clean up, even after a failed or interrupted ``up()``.

The temporary folder::

    tls/    ca.pem (what clients trust), server.pem, server.key
    pg/     the PostgreSQL cluster (owned by an unprivileged user when run as root), its log
    redis/  Redis's working folder (nothing is saved: --save '')
    run/    the apps' unix sockets (nginx -> gunicorn), nginx.pid
    logs/   a-access.log, a-error.log, b-..., rs-..., nginx-access.log, nginx-error.log,
            redis.log
    nginx/  nginx.conf and nginx's temporary files
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import ssl
import sys
import tempfile
import time
from base64 import b64encode
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

from cryptography.fernet import Fernet

from . import nginx, procs, tls
from .procs import HOST, FleetError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_FILE = ROOT / "fleet" / ".state.json"
WORKERS = 2
STARTUP_TIMEOUT = 90.0  # seconds, per service (2 cores, 6 Django workers importing at once)
ACCESS_LOG_FORMAT = ('%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s '
                     'xff=%({x-forwarded-for}i)s xfp=%({x-forwarded-proto}i)s worker=%(p)s')
PG_DATABASE = "oauthcc"
PG_ROLE = "fleet"


def state_file() -> Path:
    return Path(os.environ.get("FLEET_STATE_FILE") or DEFAULT_STATE_FILE)


def load_state(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise FleetError(f"cannot read the state file {path}: {exc}") from None


def save_state(state: dict[str, Any], path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.touch(mode=0o600)
    partial.write_text(json.dumps(state, indent=2) + "\n")
    partial.replace(path)


def _say(message: str) -> None:
    print(f"fleet: {message}", flush=True)


# --- PostgreSQL ------------------------------------------------------------------------------

def _pg_bindir() -> Path:
    configured = os.environ.get("PG_BINDIR")
    candidates = [Path(configured)] if configured else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)], reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise FleetError("initdb not found (PG_BINDIR, /usr/lib/postgresql/*/bin, PATH): "
                     "apt-get install postgresql")


def _pg_os_user() -> str | None:
    """Who runs PostgreSQL: None (this user) unless root, which PostgreSQL refuses."""
    if os.geteuid() != 0:
        return None
    user = os.environ.get("FLEET_PG_OS_USER", "oauthcc-pg")
    try:
        pwd.getpwnam(user)
    except KeyError:
        procs.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                   "--shell", "/usr/sbin/nologin", user], cwd=Path("/"), what="useradd",
                  timeout=30)
    return user


def _as_pg_user(user: str | None, command: list[str]) -> list[str]:
    return command if user is None else ["runuser", "-u", user, "--", *command]


def start_postgres(state: dict[str, Any], tmp: Path, port: int) -> str:
    bindir = _pg_bindir()
    user = _pg_os_user()
    folder = tmp / "pg"
    folder.mkdir(mode=0o700)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    password = secrets.token_urlsafe(24)
    pwfile = folder / "pwfile"
    pwfile.touch(mode=0o600)
    pwfile.write_text(password + "\n")
    if user is not None:
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    data = folder / "data"
    procs.run(_as_pg_user(user, [
        str(bindir / "initdb"), "-D", str(data), "-U", PG_ROLE, "--pwfile", str(pwfile),
        "--auth", "scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"]),
        cwd=folder, what="initdb", timeout=120)
    pwfile.unlink()
    log = folder / "postgres.log"
    options = (f"-c listen_addresses={HOST} -p {port} -k {folder} -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=40")
    state["postgres"] = {"bindir": str(bindir), "data": str(data), "log": str(log),
                         "options": options, "os_user": user}
    state["logs"]["postgres"] = str(log)
    _pg_ctl_start(state)
    procs.run([str(bindir / "createdb"), "-h", HOST, "-p", str(port), "-U", PG_ROLE,
               PG_DATABASE], env={**os.environ, "PGPASSWORD": password}, cwd=tmp,
              what="createdb", timeout=30)
    return f"postgres://{PG_ROLE}:{quote_plus(password)}@{HOST}:{port}/{PG_DATABASE}"


def _pg_ctl(state: dict[str, Any], *arguments: str, what: str) -> None:
    pg = state["postgres"]
    procs.run(_as_pg_user(pg["os_user"], [str(Path(pg["bindir"]) / "pg_ctl"), "-D", pg["data"],
                                          *arguments]),
              cwd=Path(pg["data"]).parent, what=what, timeout=90)


def _pg_ctl_start(state: dict[str, Any]) -> None:
    pg = state["postgres"]
    _pg_ctl(state, "-l", pg["log"], "-o", pg["options"], "-w", "-t", "60", "start",
            what="pg_ctl start")
    pid = int((Path(pg["data"]) / "postmaster.pid").read_text().split("\n", 1)[0])
    state["processes"]["postgres"] = {**procs.record(pid), "stop_signal": "SIGINT"}


def stop_postgres(path: Path | None = None) -> float:
    """Stop the running fleet's PostgreSQL (``pg_ctl stop -m fast``: open sessions are cut,
    the data stays); the seconds it took. Every request that needs the database fails until
    ``start_postgres_again``."""
    path = path or state_file()
    state = _running_state(path)
    started = time.monotonic()
    _pg_ctl(state, "-m", "fast", "-w", "-t", "30", "stop", what="pg_ctl stop")
    return time.monotonic() - started


def start_postgres_again(path: Path | None = None) -> float:
    """Start the fleet's PostgreSQL again on the same data folder, port and options, and
    record its new postmaster in the state file (so ``down`` stops it); the seconds it took
    until it accepted connections."""
    path = path or state_file()
    state = _running_state(path)
    started = time.monotonic()
    _pg_ctl_start(state)
    save_state(state, path)
    return time.monotonic() - started


def _running_state(path: Path) -> dict[str, Any]:
    state = load_state(path)
    if state is None or not state.get("ready") or "postgres" not in state:
        raise FleetError(f"no fleet is up (state file {path})")
    return state


# --- Redis -----------------------------------------------------------------------------------

def start_redis(state: dict[str, Any], tmp: Path, port: int, env: dict[str, str]) -> Any:
    server = shutil.which("redis-server")
    if not server:
        raise FleetError("redis-server not found: apt-get install redis-server")
    folder = tmp / "redis"
    folder.mkdir(mode=0o700)
    log = tmp / "logs" / "redis.log"
    proc = procs.spawn([server, "--port", str(port), "--bind", HOST, "--save", "",
                        "--appendonly", "no", "--dir", str(folder), "--logfile", str(log),
                        "--daemonize", "no", "--protected-mode", "yes", "--databases", "2"],
                       env=env, log=log, cwd=folder)
    state["processes"]["redis"] = procs.record(proc.pid)
    state["logs"]["redis"] = str(log)
    return proc


# --- gunicorn --------------------------------------------------------------------------------

def _gunicorn_version() -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in re.findall(r"\d+", metadata.version("gunicorn"))[:2])
    except metadata.PackageNotFoundError:
        raise FleetError(f"gunicorn is not installed for {sys.executable}: "
                         "pip install 'gunicorn>=22'") from None


def start_gunicorn(state: dict[str, Any], tmp: Path, name: str, app: str, port: int,
                   env: dict[str, str]) -> Any:
    """``app`` on 2 sync workers, bound to its unix socket (for nginx) and to 127.0.0.1:port
    (direct, for tests). No TCP peer may set X-Forwarded-Proto (--forwarded-allow-ips '');
    gunicorn always trusts its unix socket, where only nginx connects."""
    sock = tmp / "run" / f"{name}.sock"
    access_log = tmp / "logs" / f"{name}-access.log"
    error_log = tmp / "logs" / f"{name}-error.log"
    command = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS),
               "--worker-class", "sync", "--bind", f"unix:{sock}", "--bind", f"{HOST}:{port}",
               "--forwarded-allow-ips", "", "--timeout", "30", "--graceful-timeout", "5",
               "--access-logfile", str(access_log), "--access-logformat", ACCESS_LOG_FORMAT,
               "--error-logfile", "-", "--log-level", "info", "--name", f"fleet-{name}"]
    if _gunicorn_version() >= (25, 1):
        command.append("--no-control-socket")
    command.append(app)
    proc = procs.spawn(command, env=env, log=error_log, cwd=ROOT)
    state["processes"][name] = procs.record(proc.pid)
    state["logs"][f"{name}_access"] = str(access_log)
    state["logs"][f"{name}_error"] = str(error_log)
    return proc


# --- nginx -----------------------------------------------------------------------------------

def start_nginx(state: dict[str, Any], tmp: Path, ports: dict[str, int],
                certs: dict[str, str], env: dict[str, str]) -> Any:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                       else None)
    if not binary:
        raise FleetError("nginx not found: apt-get install nginx")
    folder = tmp / "nginx"
    temp = folder / "temp"
    temp.mkdir(parents=True, mode=0o755)
    user_line = ""
    if os.geteuid() == 0:  # workers as nobody; the master (root) reads the key and logs
        nobody = pwd.getpwnam("nobody")
        user_line = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (temp / sub).mkdir(mode=0o700)
            os.chown(temp / sub, nobody.pw_uid, nobody.pw_gid)
    conf = folder / "nginx.conf"
    conf.write_text(nginx.render(
        ports={"shared": ports["shared"], "a": ports["a_tls"], "b": ports["b_tls"],
               "rs": ports["rs_tls"]},
        sockets={n: str(tmp / "run" / f"{n}.sock") for n in ("a", "b", "rs")},
        cert=certs["cert"], key=certs["key"], run=str(tmp / "run"), logs=str(tmp / "logs"),
        temp=str(temp), user_line=user_line))
    error_log = tmp / "logs" / "nginx-error.log"
    base = [binary, "-p", f"{folder}/", "-c", str(conf), "-e", str(error_log)]
    procs.run([*base, "-t", "-q"], cwd=folder, what="nginx -t", timeout=30)
    proc = procs.spawn(base, env=env, log=error_log, cwd=folder)
    state["processes"]["nginx"] = procs.record(proc.pid)
    state["logs"]["nginx_access"] = str(tmp / "logs" / "nginx-access.log")
    state["logs"]["nginx_error"] = str(error_log)
    return proc


# --- up --------------------------------------------------------------------------------------

def _tls_context(ca: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca)


def _basic(client: dict[str, str]) -> str:
    raw = f"{quote_plus(client['client_id'])}:{quote_plus(client['client_secret'])}"
    return "Basic " + b64encode(raw.encode()).decode()


def smoke_check(state: dict[str, Any]) -> None:
    """A token from the shared port works at A, B and the resource project (which fetches the
    JWKS from nginx over TLS, trusting the fleet's CA through SSL_CERT_FILE)."""
    context = _tls_context(state["ca_file"])
    status, body = procs.http_request(
        state["urls"]["shared"] + "/oauth/token", method="POST", context=context,
        headers={"Authorization": _basic(state["clients"]["jwt"]),
                 "Content-Type": "application/x-www-form-urlencoded"},
        body=urlencode({"grant_type": "client_credentials", "scope": "inventory:read"}).encode())
    if status != 200:
        raise FleetError(f"smoke check: the token endpoint answered {status}: {body[:300]!r}")
    token = json.loads(body)["access_token"]
    for where in ("a", "b", "rs"):
        status, body = procs.http_request(
            state["urls"][where] + "/api/whoami", context=context,
            headers={"Authorization": f"Bearer {token}"})
        if status != 200:
            raise FleetError(f"smoke check: /api/whoami at {where} answered {status}: "
                             f"{body[:300]!r}" + procs.tail(Path(state["logs"][f"{where}_error"])))


#: import name -> requirement, for the apps (gunicorn, Django's RedisCache, PostgreSQL).
PYTHON_PACKAGES = {"gunicorn": "gunicorn>=22", "redis": "redis>=5",
                   "psycopg": "psycopg[binary]>=3.1.8", "environ": "django-environ>=0.11"}


def preflight() -> None:
    missing = [req for name, req in PYTHON_PACKAGES.items() if find_spec(name) is None]
    if missing:
        raise FleetError(f"missing in {sys.executable}: "
                         f"pip install {' '.join(repr(m) for m in missing)}")
    for tool in ("redis-server", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise FleetError(f"{tool} not found: apt-get install redis-server nginx")
    _pg_bindir()


def up(path: Path | None = None) -> dict[str, Any]:
    """Start the fleet; return its state. Refuses while a fleet recorded in ``path`` runs;
    cleans up after one that is gone."""
    path = path or state_file()
    preflight()
    previous = load_state(path)
    if previous is not None:
        running = [n for n, p in previous.get("processes", {}).items() if procs.alive(p)]
        if running:
            raise FleetError(f"a fleet is already up ({', '.join(running)} running; state "
                             f"{path}): stop it first with `python -m fleet down`")
        _say(f"cleaning up after an earlier fleet that is gone ({path})")
        down(path, quiet=True)

    started_at = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="oauthcc-fleet."))
    tmp.chmod(0o711)  # nginx workers (nobody) reach run/ ; nothing else is readable
    state: dict[str, Any] = {"version": 1, "tmpdir": str(tmp), "state_file": str(path),
                             "ready": False, "processes": {}, "logs": {}}
    save_state(state, path)
    try:
        _up(state, tmp, path)
    except BaseException:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _say("start failed; stopping what was started")
        save_state(state, path)
        down(path, quiet=True)
        raise
    state["ready"] = True
    state["startup_seconds"] = round(time.monotonic() - started_at, 1)
    save_state(state, path)
    return state


def _up(state: dict[str, Any], tmp: Path, path: Path) -> None:
    (tmp / "run").mkdir(mode=0o755)
    (tmp / "logs").mkdir(mode=0o755)
    names = ["postgres", "redis", "a", "b", "rs", "shared", "a_tls", "b_tls", "rs_tls"]
    ports = dict(zip(names, procs.free_ports(len(names)), strict=True))
    state["ports"] = ports
    certs = tls.make_certificates(tmp / "tls")
    state["ca_file"] = certs["ca"]

    issuer = f"https://{HOST}:{ports['shared']}"
    audience = f"{issuer}/api"
    redis_url = f"redis://{HOST}:{ports['redis']}/0"
    state.update(
        issuer=issuer, audience=audience, redis_url=redis_url,
        urls={"shared": issuer, "a": f"https://{HOST}:{ports['a_tls']}",
              "b": f"https://{HOST}:{ports['b_tls']}",
              "rs": f"https://{HOST}:{ports['rs_tls']}"},
        direct={n: f"http://{HOST}:{ports[n]}" for n in ("a", "b", "rs")},
        python=sys.executable, root=str(ROOT),
    )
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("DJANGO_SETTINGS_MODULE", "FLEET_STATE", "SSL_CERT_FILE")}
    base_env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    base_env["FLEET_TMPDIR"] = str(tmp)

    redis_proc = start_redis(state, tmp, ports["redis"], base_env)
    save_state(state, path)
    _say("starting PostgreSQL (initdb) and Redis ...")
    dsn = start_postgres(state, tmp, ports["postgres"])
    state["database_url"] = dsn
    save_state(state, path)
    procs.wait_until(lambda: procs.redis_ping(ports["redis"]), what="redis",
                     timeout=STARTUP_TIMEOUT, proc=redis_proc, log=Path(state["logs"]["redis"]))

    as_env = {
        "DJANGO_SETTINGS_MODULE": "fleet.as_settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": f"{HOST},localhost",
        "DATABASE_URL": dsn,
        "FLEET_REDIS_URL": redis_url,
        "OAUTH_CC_ISSUER": issuer,
        "OAUTH_CC_DEFAULT_AUDIENCE": audience,
        "OAUTH_CC_KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "OAUTH_CC_ACCESS_TOKEN_LIFETIME": "600",
        "FLEET_KEY_CACHE_SECONDS": "2",
        "FLEET_CONN_MAX_AGE": os.environ.get("FLEET_CONN_MAX_AGE", "60"),
    }
    state["as_env"] = as_env

    _say("migrating the database, creating the signing key and clients ...")
    setup = json.loads(procs.run([sys.executable, "-m", "fleet.setup_db"],
                                 env={**base_env, **as_env, "FLEET_INSTANCE": "setup"},
                                 cwd=ROOT, what="setup (migrate, rotatekeys, createclient)",
                                 timeout=180))
    state["clients"] = setup["clients"]
    state["signing_keys"] = setup["keys"]
    save_state(state, path)

    introspector = setup["clients"]["introspector"]
    rs_env = {
        "DJANGO_SETTINGS_MODULE": "fleet.resource_project.settings",
        "FLEET_RS_SECRET_KEY": secrets.token_urlsafe(50),
        "FLEET_RS_JWKS_URI": f"{issuer}/oauth/jwks",
        "FLEET_RS_TRUSTED_ISSUER": issuer,
        "FLEET_RS_RESOURCE_AUDIENCE": audience,
        "FLEET_RS_INTROSPECTION_ENDPOINT": f"{issuer}/oauth/introspect",
        "FLEET_RS_INTROSPECTION_CLIENT_ID": introspector["client_id"],
        "FLEET_RS_INTROSPECTION_CLIENT_SECRET": introspector["client_secret"],
        "FLEET_RS_JWKS_CACHE_SECONDS": "2",
        "FLEET_RS_INTROSPECTION_CACHE_SECONDS": "2",
        "SSL_CERT_FILE": certs["ca"],
    }
    state["rs_env"] = rs_env

    _say("starting gunicorn A, B and the resource project, and nginx ...")
    apps = {
        "a": start_gunicorn(state, tmp, "a", "demo_project.wsgi:application", ports["a"],
                            {**base_env, **as_env, "FLEET_INSTANCE": "A"}),
        "b": start_gunicorn(state, tmp, "b", "demo_project.wsgi:application", ports["b"],
                            {**base_env, **as_env, "FLEET_INSTANCE": "B"}),
        "rs": start_gunicorn(state, tmp, "rs", "fleet.resource_project.wsgi:application",
                             ports["rs"], {**base_env, **rs_env}),
    }
    save_state(state, path)
    for name, proc in apps.items():
        probe, expected = (("/api/whoami", 401) if name == "rs" else ("/oauth/jwks", 200))
        url = state["direct"][name] + probe
        procs.wait_until(lambda url=url, expected=expected: procs.http_status(url) == expected,
                         what=f"gunicorn {name} ({url})", timeout=STARTUP_TIMEOUT, proc=proc,
                         log=Path(state["logs"][f"{name}_error"]))
        procs.wait_until(lambda proc=proc: len(procs.children(proc.pid)) >= WORKERS,
                         what=f"gunicorn {name}: {WORKERS} workers", timeout=STARTUP_TIMEOUT,
                         proc=proc, log=Path(state["logs"][f"{name}_error"]))

    nginx_proc = start_nginx(state, tmp, ports, certs, base_env)
    save_state(state, path)
    context = _tls_context(certs["ca"])
    for name in ("shared", "a", "b"):
        url = state["urls"][name] + "/oauth/jwks"
        procs.wait_until(lambda url=url: procs.http_status(url, context) == 200,
                         what=f"nginx ({url})", timeout=STARTUP_TIMEOUT, proc=nginx_proc,
                         log=Path(state["logs"]["nginx_error"]))
    smoke_check(state)


# --- down ------------------------------------------------------------------------------------

STOP_ORDER = ("nginx", "rs", "a", "b", "redis", "postgres")


def down(path: Path | None = None, *, quiet: bool = False) -> bool:
    """Stop every recorded process, remove the temporary folder and the state file. Returns
    False when there was nothing to stop."""
    path = path or state_file()
    state = load_state(path)
    if state is None:
        if not quiet:
            _say(f"nothing to stop (no state file {path})")
        return False
    recorded = state.get("processes", {})
    for name in sorted(recorded, key=lambda n: STOP_ORDER.index(n) if n in STOP_ORDER else -1):
        proc = recorded[name]
        sig = getattr(signal, proc.get("stop_signal", "SIGTERM"))
        how = procs.stop(proc, sig=sig, timeout=20.0 if name == "postgres" else 10.0)
        if not quiet:
            _say(f"{name} (pid {proc['pid']}): {how}")
    tmp = state.get("tmpdir")
    if tmp and Path(tmp).name.startswith("oauthcc-fleet.") and Path(tmp).is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
        if not quiet:
            _say(f"removed {tmp}")
    path.unlink(missing_ok=True)
    return True


# --- reporting -------------------------------------------------------------------------------

def summary(state: dict[str, Any]) -> str:
    urls, direct, ports = state["urls"], state["direct"], state["ports"]
    clients = state["clients"]
    redacted_dsn = re.sub(r"//([^:]+):[^@]+@", r"//\1:***@", state["database_url"])
    logs = Path(state["tmpdir"]) / "logs"
    lines = [
        f"fleet is up in {state.get('startup_seconds', 0):.1f} s "
        f"(temp dir {state['tmpdir']})",
        f"  shared, round-robin A+B   {urls['shared']}   /oauth/ /.well-known/ /api/ /admin/",
        f"  instance A only           {urls['a']}",
        f"  instance B only           {urls['b']}",
        f"  resource project (remote) {urls['rs']}/api/whoami",
        f"  direct, no proxy (http)   A {direct['a']}  B {direct['b']}  RS {direct['rs']}",
        f"  issuer                    {state['issuer']}   audience {state['audience']}",
        f"  CA certificate            {state['ca_file']}",
        f"  PostgreSQL                {redacted_dsn}",
        f"  Redis                     {state['redis_url']}",
        "  clients                   " + ", ".join(
            f"{c['name']} {c['client_id']}" for c in clients.values()),
        f"  logs                      {logs}/  (and pg/postgres.log)",
        "  processes                 " + ", ".join(
            f"{n} {p['pid']}" for n, p in state["processes"].items()),
        "  ports                     " + ", ".join(f"{n} {p}" for n, p in ports.items()),
        f"  state (secrets inside)    FLEET_STATE={state['state_file']}",
        "Try: curl --cacert CA -u \"$CLIENT_ID:$CLIENT_SECRET\" -d grant_type=client_credentials "
        f"{urls['shared']}/oauth/token   (secrets: the state file's \"clients\")",
        "Stop with: python -m fleet down",
    ]
    return "\n".join(lines)
