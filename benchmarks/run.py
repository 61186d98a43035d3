"""``make bench``: oauth_cc against django-oauth-toolkit and a bare DRF view, in one run.

    .venv-bench/bin/python benchmarks/run.py [--quick] [--rows N] [--no-http]

In-process: the WSGI callable is called directly with a fresh environ per call; responses are
drained and closed; scenarios are warmed up, checked, then timed round-robin, median of 7
repeats with the spread. Then the growing tables get N rows (default 1,000,000) and the
affected scenarios are timed again, next to the bare view. Over HTTP (unless --no-http):
gunicorn with 2 sync workers on 127.0.0.1 and a bounded load generator (benchmarks/http_load.py).

Harness switches (not shortcuts in the product): the ES256 token scenario sets the process's
cached signing key to the ES256 key before each call, as a server configured for ES256 would
have it; "first sight" scenarios empty the verified-token cache before each call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
RESULTS = HERE / "results"


def setup_django(database: Path) -> None:
    os.environ["BENCH_DATABASE"] = str(database)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench_project.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_scenarios(app: Any) -> tuple[list[Any], dict[str, Any]]:
    import jwt
    from scenarios import BODY, FORM, Scenario, basic, call, create_fixtures

    from oauth_cc.resource import verification
    from oauth_cc.server import keys

    fx = create_fixtures()

    def issue(path: str, credentials: tuple[str, str], before: Any = None) -> str:
        if before:
            before()
        s = Scenario("issue", "POST", path, {"Authorization": basic(*credentials)}, FORM)
        response = call(app, s.environ())
        assert response.status == 200, (path, response.status, response.body[:200])
        return response.json()["access_token"]

    def use_es256() -> None:
        keys.active_key_cache.put(fx.keys["ES256"], float("inf"))

    def use_rs256() -> None:
        keys.active_key_cache.put(fx.keys["RS256"], float("inf"))

    occ_jwt = issue("/occ/token", fx.occ_rs256, use_rs256)
    occ_revoked = issue("/occ/token", fx.occ_rs256, use_rs256)
    occ_opaque = issue("/occ/token", fx.occ_opaque)
    dot_token = issue("/dot/token/", fx.dot_plain)
    from oauth_cc.server import inspection

    inspection.identify(occ_revoked).revoke()

    jwks = {"keys": [k.public_jwk for k in keys.published_keys()]}

    # DPoP (RFC 9449): the RS256 client with a P-256 proof key. The scenarios' environs are
    # built ahead of the timed loop, each with a fresh proof (a proof is single-use).
    from scenarios import DPoPClient, ProofScenario

    dpop_client = DPoPClient()
    token_uri, protected_uri = "https://bench.test/occ/token", "https://bench.test/occ/protected"
    use_rs256()
    response = call(app, ProofScenario(
        "issue", "POST", "/occ/token", {"Authorization": basic(*fx.occ_rs256)}, FORM,
        make_proof=lambda: dpop_client.proof("POST", token_uri)).environ())
    assert response.status == 200 and response.json()["token_type"] == "DPoP", response.body
    occ_dpop = response.json()["access_token"]

    def check_jwt(response: Any) -> None:
        token = response.json()["access_token"]
        header = jwt.get_unverified_header(token)
        key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
        jwt.decode(token, key=key, algorithms=[header["alg"]], audience="https://api.bench.test")

    def check_token(response: Any) -> None:
        assert response.json()["access_token"] and response.json()["expires_in"] > 0

    def check_body(response: Any) -> None:
        assert response.json() == BODY, response.body

    def check_dpop_token(response: Any) -> None:
        check_jwt(response)
        assert response.json()["token_type"] == "DPoP", response.body

    def check_challenge(response: Any) -> None:
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), response.headers

    def first_sight() -> None:
        verification.forget_verified_tokens()

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    bad = occ_jwt[:-6] + ("AAAAAA" if not occ_jwt.endswith("AAAAAA") else "BBBBBB")
    scenarios = [
        Scenario("oauth_cc token, RS256", "POST", "/occ/token",
                 {"Authorization": basic(*fx.occ_rs256)}, FORM, check=check_jwt,
                 before_call=use_rs256, group="oauth_cc", kind="token"),
        Scenario("oauth_cc token, ES256", "POST", "/occ/token",
                 {"Authorization": basic(*fx.occ_es256)}, FORM, check=check_jwt,
                 before_call=use_es256, group="oauth_cc", kind="token_es256"),
        ProofScenario("oauth_cc token, RS256, DPoP proof", "POST", "/occ/token",
                      {"Authorization": basic(*fx.occ_rs256)}, FORM, check=check_dpop_token,
                      before_call=use_rs256, group="oauth_cc", kind="dpop_token",
                      make_proof=lambda: dpop_client.proof("POST", token_uri)),
        Scenario("DOT token, default (PBKDF2)", "POST", "/dot/token/",
                 {"Authorization": basic(*fx.dot_hashed)}, FORM, check=check_token,
                 group="DOT", kind="token_hashed"),
        Scenario("DOT token, unhashed secret", "POST", "/dot/token/",
                 {"Authorization": basic(*fx.dot_plain)}, FORM, check=check_token,
                 group="DOT", kind="token"),
        Scenario("oauth_cc GET, valid JWT", "GET", "/occ/protected", bearer(occ_jwt),
                 check=check_body, before_call=use_rs256, group="oauth_cc", kind="valid"),
        ProofScenario("oauth_cc GET, DPoP JWT + proof", "GET", "/occ/protected",
                      {"Authorization": f"DPoP {occ_dpop}"}, check=check_body,
                      before_call=use_rs256, group="oauth_cc", kind="dpop_valid",
                      make_proof=lambda: dpop_client.proof("GET", protected_uri, occ_dpop)),
        Scenario("oauth_cc GET, valid JWT, first sight", "GET", "/occ/protected",
                 bearer(occ_jwt), check=check_body, before_call=first_sight,
                 group="oauth_cc", kind="first_sight"),
        Scenario("oauth_cc GET, invalid JWT", "GET", "/occ/protected", bearer(bad),
                 expect=401, check=check_challenge, group="oauth_cc", kind="invalid"),
        Scenario("oauth_cc GET, invalid JWT, first sight", "GET", "/occ/protected",
                 bearer(bad), expect=401, check=check_challenge, before_call=first_sight,
                 group="oauth_cc", kind="invalid_first_sight"),
        Scenario("oauth_cc GET, revoked JWT", "GET", "/occ/protected", bearer(occ_revoked),
                 expect=401, check=check_challenge, group="oauth_cc", kind="revoked"),
        Scenario("oauth_cc GET, opaque token", "GET", "/occ/protected", bearer(occ_opaque),
                 check=check_body, group="oauth_cc", kind="opaque"),
        Scenario("oauth_cc GET, opaque token, first sight", "GET", "/occ/protected",
                 bearer(occ_opaque), check=check_body, before_call=first_sight,
                 group="oauth_cc", kind="opaque_first_sight"),
        Scenario("DOT GET, valid token", "GET", "/dot/protected", bearer(dot_token),
                 check=check_body, group="DOT", kind="valid"),
        Scenario("DOT GET, invalid token", "GET", "/dot/protected", bearer("x" * 30),
                 expect=401, check=check_challenge, group="DOT", kind="invalid"),
        Scenario("bare DRF view (ceiling)", "GET", "/bare", check=check_body, group="ceiling",
                 kind="bare"),
        Scenario("plain Django view (floor)", "GET", "/plain", check=check_body,
                 group="floor", kind="plain"),
    ]
    return scenarios, {"fixtures": fx, "occ_jwt": occ_jwt}


def verify_responses(app: Any, scenarios: list[Any]) -> None:
    from scenarios import call

    for s in scenarios:
        for _ in range(2):
            if s.before_call:
                s.before_call()
            response = call(app, s.environ())
            assert response.status == s.expect, (s.name, response.status, response.body[:300])
            if s.check:
                s.check(response)


def measure(app: Any, scenarios: list[Any], repeats: int, target_seconds: float
            ) -> dict[str, dict[str, float]]:
    """Round-robin timing; each repeat of a scenario runs about ``target_seconds``."""
    from scenarios import call

    counts = {}
    for s in scenarios:  # warm up and calibrate the number of calls per repeat
        start = time.perf_counter()
        n = 0
        while n < 20 and time.perf_counter() - start < 0.5:
            if s.before_call:
                s.before_call()
            call(app, s.environ())
            n += 1
        per_call = (time.perf_counter() - start) / n
        counts[s.name] = max(1, min(2000, int(target_seconds / per_call)))
    samples: dict[str, list[float]] = {s.name: [] for s in scenarios}
    for _ in range(repeats):
        for s in scenarios:
            n = counts[s.name]
            environs = [s.environ() for _ in range(n)]  # fresh environ per call, built ahead
            before = s.before_call
            start = time.perf_counter()
            for environ in environs:
                if before:
                    before()
                call(app, environ)
            samples[s.name].append((time.perf_counter() - start) / n * 1e6)
    out = {}
    for name, values in samples.items():
        median = statistics.median(values)
        out[name] = {"us": median, "spread": (max(values) - min(values)) / median,
                     "calls": counts[name], "samples": values}
    return out


def table(rows: dict[str, dict[str, float]], bare: float, dot: dict[str, float]) -> str:
    lines = [f"{'scenario':44} {'µs/call':>9} {'spread':>7} {'÷ bare':>7} {'÷ DOT':>7}"]
    for name, r in rows.items():
        ratio_dot = f"{r['us'] / dot[name]:7.3f}" if name in dot else " " * 7
        lines.append(f"{name:44} {r['us']:9.0f} {r['spread'] * 100:6.0f}% "
                     f"{r['us'] / bare:7.2f} {ratio_dot}")
    return "\n".join(lines)


def targets(first: dict[str, Any], before: dict[str, Any], grown: dict[str, Any], rows: int
            ) -> list[tuple[str, str, bool]]:
    bare = first["bare DRF view (ceiling)"]["us"]
    r = {name: v["us"] for name, v in first.items()}
    b0 = {name: v["us"] for name, v in before.items()}
    g = {name: v["us"] for name, v in grown.items()}
    bb, gb = before["bare DRF view (ceiling)"]["us"], grown["bare DRF view (ceiling)"]["us"]

    def ratio(name: str) -> float:
        return r[name] / bare

    checks = [
        ("token RS256 ≤ 4× bare", ratio("oauth_cc token, RS256"), 4.0),
        ("token ES256 ≤ 2.5× bare", ratio("oauth_cc token, ES256"), 2.5),
        ("token ≥ 4× faster than DOT unhashed",
         r["oauth_cc token, RS256"] / r["DOT token, unhashed secret"], 0.25),
        ("token ≥ 400× faster than DOT default",
         r["oauth_cc token, RS256"] / r["DOT token, default (PBKDF2)"], 1 / 400),
        ("valid JWT ≤ 1.3× bare", ratio("oauth_cc GET, valid JWT"), 1.3),
        # DPoP: the valid-JWT path plus one ES256 proof check and one replay-cache add().
        ("DPoP JWT + proof ≤ 2.8× bare", ratio("oauth_cc GET, DPoP JWT + proof"), 2.8),
        ("token with a DPoP proof ≤ 5× bare",
         ratio("oauth_cc token, RS256, DPoP proof"), 5.0),
        ("valid JWT ≥ 5× faster than DOT",
         r["oauth_cc GET, valid JWT"] / r["DOT GET, valid token"], 0.2),
        ("first sight ≤ 1.8× bare", ratio("oauth_cc GET, valid JWT, first sight"), 1.8),
        ("invalid token ≤ 1.5× bare", ratio("oauth_cc GET, invalid JWT"), 1.5),
        ("invalid token, first sight ≤ 1.5× bare",
         ratio("oauth_cc GET, invalid JWT, first sight"), 1.5),
        ("revocation check ≤ 2.5× bare", ratio("oauth_cc GET, revoked JWT"), 2.5),
        ("opaque token ≤ 2.5× bare", ratio("oauth_cc GET, opaque token, first sight"), 2.5),
    ]
    out = [(label, f"{value:.3f} (limit {limit:g})", value <= limit)
           for label, value, limit in checks]
    for name in ("oauth_cc GET, valid JWT", "oauth_cc GET, revoked JWT",
                 "oauth_cc GET, opaque token, first sight", "DOT GET, valid token"):
        if name in g:
            change = (g[name] / gb) / (b0[name] / bb) - 1
            out.append((f"{name}: flat 0 → {rows:,} rows (±10%)", f"{change * 100:+.1f}%",
                        abs(change) <= 0.10))
    return out


def mann_whitney_z(a: list[float], b: list[float]) -> float:
    """The normal approximation of the Mann-Whitney U statistic (with ties ranked by their
    average): |z| < 3 means the two samples are not told apart."""
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(pooled)
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    rank_a = sum(r for r, (_v, group) in zip(ranks, pooled, strict=True) if group == 0)
    n1, n2 = len(a), len(b)
    u = rank_a - n1 * (n1 + 1) / 2
    mean, sd = n1 * n2 / 2, (n1 * n2 * (n1 + n2 + 1) / 12) ** 0.5
    return (u - mean) / sd


def timing_equality(app: Any, fixtures: Any, samples: int) -> dict[str, Any]:
    """A known client_id with a wrong secret against an unknown client_id: the same work?
    Interleaved in random order, one request each, per-call nanoseconds; each call from its
    own address so that throttling treats both alike."""
    import random

    from scenarios import FORM, Scenario, basic, call

    known_id = fixtures.occ_rs256[0]
    durations: dict[str, list[float]] = {"known": [], "unknown": []}
    order = ["known", "unknown"] * samples
    random.shuffle(order)
    for n, kind in enumerate(order):
        client_id = known_id if kind == "known" else f"unknown{n:06d}xxxxxxxxxxxx"
        s = Scenario("timing", "POST", "/occ/token",
                     {"Authorization": basic(client_id, "occs_wrong-secret-of-the-same-size")},
                     FORM)
        environ = s.environ()
        environ["REMOTE_ADDR"] = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        start = time.perf_counter_ns()
        response = call(app, environ)
        durations[kind].append((time.perf_counter_ns() - start) / 1000)
        assert response.status == 401, response.body
    z = mann_whitney_z(durations["known"], durations["unknown"])
    return {"samples": samples, "z": z,
            "known_median_us": statistics.median(durations["known"]),
            "unknown_median_us": statistics.median(durations["unknown"])}


def revocation_cost(calls: int) -> dict[str, float]:
    """The revocation check alone, per request: the default file channel (one stat()) and a
    cache channel (one cache read; LocMem here, a network round trip with Redis)."""
    from oauth_cc import clock
    from oauth_cc.resource import local

    out = {}
    for name, channel in (("file", local.FileChannel(local.version_file())),
                          ("cache", local.CacheChannel("default"))):
        store = local.DatabaseStore(channel)
        store.revocations(clock.timestamp())
        runs = []
        for _ in range(5):
            start = time.perf_counter_ns()
            for _ in range(calls):
                store.revocations(clock.timestamp())
            runs.append((time.perf_counter_ns() - start) / calls / 1000)
        out[name] = statistics.median(runs)
    return out


def versions() -> dict[str, str]:
    import django
    import jwt
    import oauth2_provider
    import rest_framework

    import oauth_cc

    return {"python": platform.python_version(), "django": django.get_version(),
            "djangorestframework": rest_framework.VERSION, "pyjwt": jwt.__version__,
            "django-oauth-toolkit": oauth2_provider.__version__, "oauth_cc": oauth_cc.__version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.15,
                        help="target duration of one repeat of one scenario")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeats, args.seconds = 10_000, 3, 0.03
    RESULTS.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="oauth_cc_bench_"))
    setup_django(workdir / "bench.sqlite3")
    from django.core.handlers.wsgi import WSGIHandler

    app = WSGIHandler()
    started = time.time()
    scenarios, context = build_scenarios(app)
    verify_responses(app, scenarios)
    print(f"in-process, {args.repeats} repeats, round-robin ...", flush=True)
    first = measure(app, scenarios, args.repeats, args.seconds)
    grown_names = {"oauth_cc GET, valid JWT", "oauth_cc GET, revoked JWT",
                   "oauth_cc GET, opaque token, first sight", "DOT GET, valid token",
                   "bare DRF view (ceiling)"}
    grown_scenarios = [s for s in scenarios if s.name in grown_names]
    # The same subset just before and just after the rows go in, each next to its own bare
    # view, so that drift between the two passes cancels out of the "flat" comparison.
    before = measure(app, grown_scenarios, args.repeats, args.seconds)
    print(f"adding {args.rows:,} rows to the growing tables ...", flush=True)
    from scenarios import insert_rows

    t = time.time()
    insert_rows(args.rows, context["fixtures"])
    print(f"  done in {time.time() - t:.0f} s", flush=True)
    verify_responses(app, grown_scenarios)
    grown = measure(app, grown_scenarios, args.repeats, args.seconds)

    bare = first["bare DRF view (ceiling)"]["us"]
    print("timing: known vs unknown client_id ...", flush=True)
    timing = timing_equality(app, context["fixtures"], 300 if args.quick else 3000)
    revocation = revocation_cost(2000 if args.quick else 20000)
    dot_of = {"oauth_cc token, RS256": "DOT token, unhashed secret",
              "oauth_cc token, ES256": "DOT token, unhashed secret",
              "oauth_cc GET, valid JWT": "DOT GET, valid token",
              "oauth_cc GET, valid JWT, first sight": "DOT GET, valid token",
              "oauth_cc GET, invalid JWT": "DOT GET, invalid token",
              "oauth_cc GET, invalid JWT, first sight": "DOT GET, invalid token"}
    dot = {name: first[other]["us"] for name, other in dot_of.items()}
    text = [f"oauth_cc benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            json.dumps(versions()), "", "In-process (0 rows):",
            table(first, bare, dot), "",
            "In-process, the growing tables empty (just before the rows go in):",
            table(before, before["bare DRF view (ceiling)"]["us"], {}), "",
            f"In-process after {args.rows:,} rows:",
            table(grown, grown["bare DRF view (ceiling)"]["us"], {}), "",
            "The revocation check alone, per request (µs; ÷ bare DRF view):",
            *[f"  {name:6} channel {us:7.2f} µs  {us / bare:6.3f}"
              for name, us in revocation.items()], "",
            f"Token endpoint, wrong secret: known client_id vs unknown ({timing['samples']:,} "
            f"requests each, interleaved): medians {timing['known_median_us']:.0f} / "
            f"{timing['unknown_median_us']:.0f} µs, Mann–Whitney z = {timing['z']:+.2f}"]
    http_results = None
    if not args.no_http:
        import http_load

        http_results = http_load.run_all(scenarios, workdir, quick=args.quick)
        text += ["", http_load.table(http_results)]
    checks = targets(first, before, grown, args.rows)
    checks.append(("known and unknown client_id cost the same (|z| < 3)",
                   f"z = {timing['z']:+.2f}", abs(timing["z"]) < 3))
    if http_results:
        checks.extend(http_load.targets(http_results))
    text += ["", "Targets:"] + [f"  [{'ok' if ok else 'MISS'}] {label}: {value}"
                                for label, value, ok in checks]
    text.append(f"\ntotal time {time.time() - started:.0f} s")
    shutil.rmtree(workdir, ignore_errors=True)  # kept only when the run fails
    report = "\n".join(text)
    print(report)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"bench-{stamp}.txt").write_text(report + "\n")
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps({
        "versions": versions(), "rows": args.rows, "in_process": first,
        "in_process_before_rows": before, "in_process_grown": grown, "http": http_results,
        "timing_known_vs_unknown": timing, "revocation_check_us": revocation,
        "targets": [{"target": label, "value": value, "met": ok} for label, value, ok in checks],
    }, indent=2))


if __name__ == "__main__":
    main()
