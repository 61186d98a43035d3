"""Property-based tests for the Basic-credentials and scope parsers (CAUTH-02, SCOPE-01)."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauth_cc.errors import InvalidScope
from oauth_cc.scopes import canonical, parse
from oauth_cc.server.client_secret import MalformedBasic, parse_basic_credentials

# Text without lone surrogates (which cannot be UTF-8 encoded, so no client could send them).
text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
NQCHAR = st.characters(codec="ascii").filter(lambda c: c == "!" or ("#" <= c <= "~" and c != "\\"))
scope_token = st.text(NQCHAR, min_size=1, max_size=12)


@settings(deadline=None)  # a GC pause on a busy machine is no failure
@given(client_id=text, secret=text)
def test_basic_round_trip_CAUTH_02(client_id, secret):
    # CAUTH-02
    """What a client encodes per RFC 6749 App. B decodes to the same id and secret."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    assert parse_basic_credentials(base64.b64encode(raw).decode()) == (client_id, secret)


@settings(deadline=None)  # a GC pause on a busy machine is no failure
@given(st.text(max_size=200))
def test_basic_parser_never_raises_anything_else_CAUTH_03(header):
    # CAUTH-03
    try:
        client_id, secret = parse_basic_credentials(header)
    except MalformedBasic:
        return
    assert client_id and secret


@settings(deadline=None)  # a GC pause on a busy machine is no failure
@given(st.binary(max_size=100))
def test_basic_parser_on_arbitrary_octets_CAUTH_03(octets):
    # CAUTH-03
    try:
        parse_basic_credentials(base64.b64encode(octets).decode())
    except MalformedBasic:
        pass


@settings(deadline=None)  # a GC pause on a busy machine is no failure
@given(st.lists(scope_token, min_size=1, max_size=8))
def test_scope_round_trip_SCOPE_01_SCOPE_02(tokens):
    # SCOPE-01, SCOPE-02
    assert parse(" ".join(tokens)) == frozenset(tokens)
    assert parse(canonical(tokens)) == frozenset(tokens)


@settings(deadline=None)  # a GC pause on a busy machine is no failure
@given(st.text(max_size=60))
def test_scope_parser_accepts_only_the_grammar_SCOPE_01(value):
    # SCOPE-01
    try:
        result = parse(value)
    except InvalidScope:
        assert (value == "" or value != value.strip(" ") or "  " in value
                or any(not ("!" <= c <= "~") or c in '"\\' for c in value.replace(" ", "")))
        return
    assert " ".join(value.split(" ")) == value
    assert all(token and all("!" <= c <= "~" and c not in '"\\' for c in token)
               for token in result)


@pytest.mark.parametrize("value", ["", " ", "a  b", " a", "a ", 'a"', "a\\b", "é", "a\nb"])
def test_scope_parser_rejects_SCOPE_01(value):
    # SCOPE-01
    with pytest.raises(InvalidScope):
        parse(value)
