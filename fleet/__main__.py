"""``python -m fleet up | down | status | run -- COMMAND... | manage ARGS...``

- ``up``: start the fleet on 127.0.0.1 (PostgreSQL, Redis, instances A and B of the demo
  project, the separate resource project, nginx with TLS in front); write the state file and
  print where everything is. Refuses while a fleet is up; cleans up after one that died.
- ``down``: stop everything and remove the temporary folder and the state file.
- ``status``: what is running.
- ``run -- COMMAND...``: up, run COMMAND with ``FLEET_STATE`` set to the state file, down;
  exit with COMMAND's status (for CI: ``python -m fleet run -- python -m pytest tests/fleet``).
- ``manage ARGS...``: ``manage.py ARGS`` with the authorization server's settings and
  database (e.g. ``python -m fleet manage rotatekeys --list``).
- ``postgres stop | start``: stop the fleet's PostgreSQL (``pg_ctl stop -m fast``), or start
  it again on the same data and port (a database outage, by hand).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

from . import cluster, procs
from .procs import FleetError


def _terminate(signum: int, frame: Any) -> NoReturn:
    _shield()  # a second signal (`timeout`, an impatient Ctrl-C) must not cut the cleanup short
    raise SystemExit(128 + signum)  # unwinds through `finally`, which stops the fleet


def _shield() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _state_or_exit() -> dict[str, Any]:
    state = cluster.load_state(cluster.state_file())
    if state is None or not state.get("ready"):
        sys.exit(f"fleet: no fleet is up (state file {cluster.state_file()})")
    return state


def cmd_up(args: list[str]) -> int:
    state = cluster.up()
    print(cluster.summary(state), flush=True)
    return 0


def cmd_down(args: list[str]) -> int:
    cluster.down()
    return 0


def cmd_status(args: list[str]) -> int:
    state = cluster.load_state(cluster.state_file())
    if state is None:
        print("fleet: down")
        return 1
    for name, proc in state.get("processes", {}).items():
        print(f"{name:9} pid {proc['pid']:>7}  {'running' if procs.alive(proc) else 'GONE'}")
    if state.get("ready"):
        print(cluster.summary(state))
    return 0 if all(procs.alive(p) for p in state.get("processes", {}).values()) else 1


def cmd_run(args: list[str]) -> int:
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit("usage: python -m fleet run -- COMMAND [ARG...]")
    path = cluster.state_file()
    try:
        state = cluster.up(path)
        print(cluster.summary(state), flush=True)
        env = {**os.environ, "FLEET_STATE": str(path)}
        try:
            code = subprocess.call(args, env=env)  # noqa: S603 (the caller's own command)
        except FileNotFoundError:
            print(f"fleet: command not found: {args[0]}", file=sys.stderr)
            code = 127
    finally:
        _shield()
        cluster.down(path)
    return code


def cmd_manage(args: list[str]) -> int:
    state = _state_or_exit()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(state["as_env"])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [state["root"],
                                                      os.environ.get("PYTHONPATH")]))
    return subprocess.call([sys.executable, str(Path(state["root"]) / "manage.py"),  # noqa: S603
                            *args], env=env, cwd=state["root"])


def cmd_postgres(args: list[str]) -> int:
    if args == ["stop"]:
        print(f"fleet: PostgreSQL stopped in {cluster.stop_postgres():.1f} s")
    elif args == ["start"]:
        print(f"fleet: PostgreSQL accepts connections after "
              f"{cluster.start_postgres_again():.1f} s")
    else:
        sys.exit("usage: python -m fleet postgres stop|start")
    return 0


COMMANDS = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "run": cmd_run,
            "manage": cmd_manage, "postgres": cmd_postgres}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return COMMANDS[argv[0]](argv[1:])
    except FleetError as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
