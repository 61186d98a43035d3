"""A fleet on one machine, over real sockets: nginx (TLS) in front of two gunicorn instances
A and B of the demo project that share PostgreSQL and Redis, and a resource server in a
separate project (remote mode: JWKS over TLS, introspection).

Run with ``python -m fleet run -- python -m pytest tests/fleet`` (``make fleet-test``); without
``FLEET_STATE`` every test is skipped. The tests run in file order, then
``test_under_load.py``'s; the log test here runs last of all (``fleet_finale``) and reads the
logs that all the others produced.
"""

from __future__ import annotations

import base64
import http.client
import re
import socket
import ssl
import time
import uuid
from pathlib import Path

import pytest

from oauth_cc.settings import DEFAULTS as OAUTH_CC_DEFAULTS

from .conftest import READ, TIMINGS, Fleet, Response, basic, kid_of, poll

CACHE_SECONDS = 2  # INTROSPECTION_CACHE_SECONDS in fleet/resource_project/settings.py
KEY_CACHE_SECONDS = 2  # KEY_CACHE_SECONDS of A and B, and the resource project's JWKS cache


def assert_invalid_token(response: Response) -> None:
    assert response.status == 401, response
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def new_lines(fleet: Fleet, log: str, before: int) -> list[str]:
    return fleet.log_lines(log)[before:]


# --- (a) one issuer, many verifiers -------------------------------------------------------------

def test_token_from_a_works_at_b_and_at_the_resource_project(fleet: Fleet) -> None:
    a_before = len(fleet.log_lines("a_access"))
    token = fleet.token("a")
    issued_by_a = fleet.wait_for_lines("a_access", a_before, '"POST /oauth/token ')
    assert issued_by_a and " 200 " in issued_by_a[-1], "A did not issue the token"

    client_id = fleet.client("jwt")["client_id"]
    b_before = len(fleet.log_lines("b_access"))
    at_b = fleet.whoami("b", token)
    assert at_b.status == 200, at_b
    assert at_b.json()["client_id"] == client_id
    assert at_b.json()["scope"] == READ
    assert fleet.wait_for_lines("b_access", b_before, '"GET /api/whoami '), "B did not answer"

    at_rs = fleet.whoami("rs", token)  # remote mode: the JWKS comes from nginx over TLS
    assert at_rs.status == 200, at_rs
    assert at_rs.json()["client_id"] == client_id
    assert at_rs.json()["served_by"] == "resource_project"
    assert at_rs.json()["kid"] == kid_of(token)
    assert at_rs.json()["aud"] == [fleet.state["audience"]]


def test_shared_port_round_robins_over_a_and_b(fleet: Fleet) -> None:
    marker = f"/api/round-robin-{uuid.uuid4().hex}"  # a 404 that only this test asks for
    before = {n: len(fleet.log_lines(f"{n}_access")) for n in ("a", "b")}
    for _ in range(6):
        response = fleet.request("shared", "GET", marker)
        assert response.status == 404, response
    deadline = time.monotonic() + 3
    while True:
        served = {n: len(fleet.wait_for_lines(f"{n}_access", before[n], marker, deadline=0))
                  for n in before}
        if sum(served.values()) >= 6 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert served["a"] + served["b"] == 6, served
    assert served["a"] >= 2 and served["b"] >= 2, served


def test_discovery_names_the_shared_https_issuer(fleet: Fleet) -> None:
    for where in ("shared", "a", "b"):
        response = fleet.request(where, "GET", "/.well-known/oauth-authorization-server")
        assert response.status == 200, response
        metadata = response.json()
        assert metadata["issuer"] == fleet.state["issuer"]
        assert metadata["jwks_uri"] == fleet.state["issuer"] + "/oauth/jwks"
    assert fleet.request("shared", "GET", "/admin/login/").status == 200
    assert fleet.request("shared", "GET", "/elsewhere").status == 404  # only the four paths


# --- (b) revocation -----------------------------------------------------------------------------

def test_revocation_at_a_is_refused_at_b_on_the_next_request(fleet: Fleet) -> None:
    token = fleet.token("a")
    assert fleet.whoami("b", token).status == 200  # B has verified (and cached) it

    revoked = fleet.revoke("a", token)
    assert revoked.status == 200, revoked
    start = time.monotonic()
    first = fleet.whoami("b", token)
    elapsed = time.monotonic() - start
    if first.status != 401:  # measure how long it does take, for the message
        _, attempts, late = poll(lambda: fleet.whoami("b", token).status == 401, deadline=5)
        pytest.fail(f"B accepted the revoked token ({first}); refused after {attempts} more "
                    f"requests, {late:.2f} s")
    assert_invalid_token(first)
    TIMINGS["revocation A -> B"] = (f"refused by B's first request after the revoke "
                                    f"response ({elapsed * 1000:.0f} ms incl. that request)")
    for _ in range(4):  # both instances, every worker
        assert_invalid_token(fleet.whoami("shared", token))
    assert_invalid_token(fleet.whoami("a", token))


# --- (c) key rotation ---------------------------------------------------------------------------

def test_key_rotation_at_a_reaches_b_and_the_resource_project(fleet: Fleet) -> None:
    old_token = fleet.token("a")
    old_kid = kid_of(old_token)
    assert fleet.whoami("b", old_token).status == 200
    assert fleet.whoami("rs", old_token).status == 200

    pending = fleet.manage("rotatekeys")
    assert pending.returncode == 0, pending.stderr
    assert "published, not yet signing" in pending.stdout, pending.stdout
    # As documented: wait out the verifiers' key caches before the second step. Without it a
    # worker of B that loaded its keys just before the new one was published refuses the
    # new key's tokens (unknown kid) until it may reload, up to KEY_CACHE_SECONDS later.
    time.sleep(KEY_CACHE_SECONDS + 1)
    promoted = fleet.manage("rotatekeys")
    assert promoted.returncode == 0, promoted.stderr
    assert "activated" in promoted.stdout, promoted.stdout
    start = time.monotonic()

    def new_token() -> str | None:
        token = fleet.token("a")
        return token if kid_of(token) != old_kid else None

    token, _, signed_after = poll(new_token, deadline=20, interval=0.2)
    assert token, "A still signs with the old key 20 s after the promotion"
    new_kid = kid_of(token)
    jwks = fleet.request("shared", "GET", "/oauth/jwks").json()
    assert {old_kid, new_kid} <= {key["kid"] for key in jwks["keys"]}

    timings = {}
    for where in ("b", "rs"):
        accepted, attempts, _ = poll(lambda where=where: fleet.whoami(where, token).status == 200,
                                     deadline=20, interval=0.2)
        assert accepted, f"{where} refused the new key's token for 20 s"
        timings[where] = (time.monotonic() - start, attempts)
        for _ in range(4):  # every worker, not just the one that answered first
            again = fleet.whoami(where, token)
            assert again.status == 200, (where, again)
            assert again.json()["client_id"] == fleet.client("jwt")["client_id"]
        # The retired key is still published: its tokens stay valid until they expire.
        assert fleet.whoami(where, old_token).status == 200
    TIMINGS["key rotation (rotatekeys twice)"] = (
        f"A signed with the new key {signed_after:.1f} s after the promotion; "
        f"B accepted it {timings['b'][0]:.1f} s after (attempt {timings['b'][1]}), the "
        f"resource project {timings['rs'][0]:.1f} s after (attempt {timings['rs'][1]})")


def test_immediate_key_rotation_reaches_b_and_the_resource_project(fleet: Fleet) -> None:
    """``rotatekeys --now``: the first token with the new key names a kid that B and the
    resource project have never seen; each reloads its keys (at most every 2 s here), no
    restart."""
    old_token = fleet.token("a")
    for where in ("b", "rs"):  # both have the current keys cached
        assert fleet.whoami(where, old_token).status == 200
    done = fleet.manage("rotatekeys", "--now")
    assert done.returncode == 0, done.stderr
    assert "created and activated" in done.stdout, done.stdout
    start = time.monotonic()
    token, _, signed_after = poll(
        lambda: (t if kid_of(t := fleet.token("a")) != kid_of(old_token) else None),
        deadline=20, interval=0.2)
    assert token, "A still signs with the old key 20 s after the rotation"
    timings = {}
    for where in ("b", "rs"):
        accepted, attempts, _ = poll(lambda where=where: fleet.whoami(where, token).status == 200,
                                     deadline=20, interval=0.2)
        assert accepted, f"{where} refused the new key's token for 20 s"
        timings[where] = (time.monotonic() - start, attempts)
        assert fleet.whoami(where, old_token).status == 200
    TIMINGS["key rotation (rotatekeys --now)"] = (
        f"A signed with the new key {signed_after:.1f} s after the rotation; "
        f"B accepted it {timings['b'][0]:.1f} s after (attempt {timings['b'][1]}), the "
        f"resource project {timings['rs'][0]:.1f} s after (attempt {timings['rs'][1]})")
    # Only the workers that served the polls above have reloaded; another worker that loaded
    # the keys just before the rotation refuses the new kid until KEY_CACHE_SECONDS pass (the
    # documented window of --now). Let it pass, so that the next tests' tokens are good at
    # every worker (stop 15's CI: whoami at A got "signing key is unknown" right after this).
    time.sleep(KEY_CACHE_SECONDS + 1)


# --- (d) TLS and the proxy ----------------------------------------------------------------------

def test_plain_http_to_the_tls_port_is_refused(fleet: Fleet) -> None:
    port = fleet.state["ports"]["shared"]
    a_before = len(fleet.log_lines("a_access"))
    b_before = len(fleet.log_lines("b_access"))
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        conn.sendall(b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 29\r\nConnection: close\r\n\r\n"
                     b"grant_type=client_credentials")
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    finally:
        conn.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"plain HTTP request was sent to HTTPS port" in answer
    time.sleep(0.3)  # gunicorn would have logged it by now
    for log, before in (("a_access", a_before), ("b_access", b_before)):
        # it never reached an instance (other lines: earlier requests, logged late)
        assert not [line for line in new_lines(fleet, log, before)
                    if '"POST /oauth/token ' in line]


def test_the_certificate_is_checked(fleet: Fleet) -> None:
    port = fleet.state["ports"]["shared"]
    for name in ("localhost", "127.0.0.1"):  # the server certificate names both
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                fleet.context.wrap_socket(raw, server_hostname=name) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    trusts_nothing = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # not the fleet's CA
    with pytest.raises(ssl.SSLCertVerificationError):
        fleet.request("shared", "GET", "/oauth/jwks", context=trusts_nothing)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        fleet.context.wrap_socket(raw, server_hostname="auth.example.com")


def test_the_token_endpoint_refuses_plain_http_without_the_proxy(fleet: Fleet) -> None:
    response = fleet.token_response("a-direct")
    assert response.status == 400, response
    assert response.json() == {"error": "invalid_request",
                               "error_description": "HTTPS is required."}


def test_a_forged_forwarded_proto_is_not_believed_without_the_proxy_BCP_07(fleet: Fleet
                                                                         ) -> None:
    """BCP-07 (the proxy-to-app link): gunicorn believes X-Forwarded-Proto only on its unix
    socket, where nginx alone connects; a client that reaches its TCP port directly cannot
    claim HTTPS."""
    headers = {**fleet.auth("jwt"), "X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on",
               "X-Forwarded-For": "198.51.100.23"}
    for where in ("a-direct", "b-direct"):
        response = fleet.request(where, "POST", "/oauth/token", headers=headers,
                                 form={"grant_type": "client_credentials", "scope": READ})
        assert response.status == 400, response
        assert response.json()["error_description"] == "HTTPS is required."


def test_nginx_overwrites_the_forwarding_headers_a_client_sends_BCP_07(fleet: Fleet) -> None:
    """BCP-07: the proxy sanitises the security headers a client sends (X-Forwarded-*,
    Forwarded); the instance sees the proxy's values only."""
    before = len(fleet.log_lines("a_access"))
    headers = {**fleet.auth("jwt"), "X-Forwarded-Proto": "http",
               "X-Forwarded-For": "203.0.113.77", "X-Forwarded-Host": "evil.example",
               "Forwarded": "for=203.0.113.78;proto=http"}
    response = fleet.request("a", "POST", "/oauth/token", headers=headers,
                             form={"grant_type": "client_credentials", "scope": READ})
    # Had nginx passed the client's X-Forwarded-Proto on, the request would count as http.
    assert response.status == 200, response
    fleet.sensitive.add(response.json()["access_token"])
    lines = fleet.wait_for_lines("a_access", before, '"POST /oauth/token ')
    assert lines, "the request did not reach A"
    assert "xff=127.0.0.1 " in lines[-1] and "xfp=https " in lines[-1], lines[-1]
    assert "203.0.113.77" not in "\n".join(fleet.log_lines("a_access"))


SLOW_REQUEST = (b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 100\r\n\r\ngrant_type=")  # and then nothing


def test_slow_bodies_tie_up_nginx_not_the_sync_workers(fleet: Fleet) -> None:
    """Clients that send headers and stall mid-body: straight at gunicorn, two of them take
    both sync workers of A; through nginx (which buffers the whole body before it bothers an
    instance, and gives up after client_body_timeout) every worker stays free."""
    port = fleet.state["ports"]["shared"]
    stalled: list[socket.socket] = []
    try:
        for _ in range(8):  # twice the workers behind the shared port
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            stalled.append(fleet.context.wrap_socket(raw, server_hostname="127.0.0.1"))
            stalled[-1].sendall(SLOW_REQUEST)
        start = time.monotonic()
        token = fleet.token("shared")
        for where in ("a", "b"):
            assert fleet.whoami(where, token).status == 200
        assert time.monotonic() - start < 3
    finally:
        for sock in stalled:
            sock.close()
    stalled = []

    direct = fleet.state["ports"]["a"]
    try:
        for _ in range(2):  # A's two workers
            stalled.append(socket.create_connection(("127.0.0.1", direct), timeout=5))
            stalled[-1].sendall(SLOW_REQUEST)
        time.sleep(0.2)
        with pytest.raises(TimeoutError):
            conn = http.client.HTTPConnection("127.0.0.1", direct, timeout=1.5)
            try:
                conn.request("GET", "/oauth/jwks")
                conn.getresponse()
            finally:
                conn.close()
    finally:
        for sock in stalled:
            sock.close()
    recovered, _, _ = poll(lambda: fleet.request("a", "GET", "/oauth/jwks").status == 200,
                           deadline=10, interval=0.2)
    assert recovered


def test_refusals_carry_no_secret_back(fleet: Fleet) -> None:
    """Wrong credentials and bogus tokens are refused everywhere; the log test below then
    checks that none of them was written down."""
    client = fleet.client("jwt")
    wrong = f"{client['client_secret']}-not"
    fleet.sensitive.add(wrong)
    response = fleet.request("a", "POST", "/oauth/token",
                             headers={"Authorization": basic(client["client_id"], wrong)},
                             form={"grant_type": "client_credentials"})
    assert response.status == 401, response
    assert response.json()["error"] == "invalid_client"
    assert wrong.encode() not in response.body

    forged = fleet.token("a")[:-8] + "AAAAAAAA"  # a valid token with a broken signature
    fleet.sensitive.add(forged)
    for where in ("b", "rs"):
        assert_invalid_token(fleet.whoami(where, forged))
    bogus = "occat_" + "x" * 43
    fleet.sensitive.add(bogus)
    assert_invalid_token(fleet.whoami("b", bogus))


def test_failed_authentication_is_throttled_across_a_and_b(fleet: Fleet) -> None:
    """The failure counts live in Redis (THROTTLE_CACHE is the shared default cache): the
    failures at A and at B add up, and then both refuse even the right secret."""
    limit = int(OAUTH_CC_DEFAULTS["THROTTLE_FAILURES_PER_CLIENT"])
    window = float(OAUTH_CC_DEFAULTS["THROTTLE_WINDOW_SECONDS"])
    client = fleet.client("throttled")
    wrong = basic(client["client_id"], client["client_secret"] + "-wrong")
    fleet.sensitive.add(wrong)
    if time.time() % window > window - 5:  # fixed windows: do not straddle two
        time.sleep(window - time.time() % window + 0.2)
    for attempt in range(limit):
        response = fleet.request("a" if attempt % 2 else "b", "POST", "/oauth/token",
                                 headers={"Authorization": wrong},
                                 form={"grant_type": "client_credentials"})
        assert response.status == 401, (attempt, response)
    for where in ("a", "b", "shared"):
        response = fleet.token_response(where, role="throttled")
        assert response.status == 429, (where, response)
        assert int(response.headers["retry-after"]) >= 1
    assert fleet.token_response("a", role="jwt").status == 200  # another client is not locked


# --- (f) the resource project with remote introspection -----------------------------------------

def test_opaque_token_is_accepted_by_the_resource_project(fleet: Fleet) -> None:
    token = fleet.token("a", role="opaque")
    assert token.startswith("occat_")
    response = fleet.whoami("rs", token)
    assert response.status == 200, response
    assert response.json()["client_id"] == fleet.client("opaque")["client_id"]
    assert response.json()["scope"] == READ


@pytest.mark.parametrize("role", ["opaque", "jwt"])
def test_revoked_token_is_refused_by_the_resource_project(fleet: Fleet, role: str) -> None:
    token = fleet.token("a", role=role)
    assert fleet.whoami("rs", token).status == 200
    assert fleet.revoke("b", token, role=role).status == 200
    start = time.monotonic()
    refused, attempts, first = poll(lambda: fleet.whoami("rs", token).status == 401,
                                    deadline=CACHE_SECONDS + 5, interval=0.1)
    assert refused, f"the resource project still accepts the revoked {role} token"
    # Each worker remembers an answer for INTROSPECTION_CACHE_SECONDS: past that, all refuse.
    time.sleep(max(0.0, start + CACHE_SECONDS + 0.5 - time.monotonic()))
    for _ in range(6):
        assert_invalid_token(fleet.whoami("rs", token))
    TIMINGS[f"revocation at B -> resource project ({role} token)"] = (
        f"first refusal {first:.1f} s after the revoke response (attempt {attempts}); every "
        f"worker refuses from {CACHE_SECONDS} s on (INTROSPECTION_CACHE_SECONDS)")


# --- (e) the logs -------------------------------------------------------------------------------

CREDENTIAL = re.compile(rb"(?i)\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]{12,}")
#: Anything shaped like a JWT, a client secret or an opaque token, whoever sent it (the load
#: tests remember only a sample of the thousands of tokens they use).
SHAPED = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}|occs_[A-Za-z0-9]{20,}"
                    rb"|occat_[A-Za-z0-9_-]{20,}")


@pytest.mark.fleet_finale(2)
def test_logs_hold_no_secret_token_or_authorization_value(fleet: Fleet) -> None:
    """Runs last: every secret, token and Authorization value sent by the tests (and the
    clients' secrets), and anything shaped like a token or a secret, is absent from every
    log of the fleet: gunicorn's access and error logs of A, B and the resource project,
    nginx's, Redis's and PostgreSQL's."""
    for client in fleet.state["clients"].values():
        fleet.sensitive.add(client["client_secret"])
    fleet.sensitive.update([  # the fleet's own secrets
        fleet.state["as_env"]["SECRET_KEY"], fleet.state["as_env"]["OAUTH_CC_KEY_ENCRYPTION_KEYS"],
        fleet.state["rs_env"]["FLEET_RS_SECRET_KEY"],
        re.sub(r"^.*//[^:]+:([^@]+)@.*$", r"\1", fleet.state["database_url"])])
    needles = set()
    for value in fleet.sensitive:
        needles.add(value)
        scheme, _, credential = value.partition(" ")
        if scheme in ("Basic", "Bearer") and credential:
            needles.add(credential)
            if scheme == "Basic":
                needles.add(base64.b64decode(credential).decode())
        if value.count(".") == 2:  # a JWT: its signature alone is as telling
            needles.add(value.rsplit(".", 1)[1])
    assert len(fleet.sensitive) > 5, "the tests above did not run"

    logs = [Path(p) for p in fleet.state["logs"].values()]
    assert len(logs) >= 9
    leaks = []
    for log in logs:
        text = log.read_bytes()
        for needle in needles:
            if needle.encode() in text:
                leaks.append(f"{log.name}: a value the tests sent ({needle[:6]}...)")
        for pattern in (CREDENTIAL, SHAPED):
            if found := pattern.search(text):
                leaks.append(f"{log.name}: {found[0][:14]!r}...")
    assert not leaks, "\n".join(leaks)
    for name in ("a_access", "b_access", "nginx_access", "rs_access"):
        assert fleet.log(name).stat().st_size > 0, f"{name} is empty: nothing was checked"
