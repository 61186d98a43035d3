"""Verify an access token against the demo server's JWKS, as a resource server would.

    .venv/bin/python -m demo_project.verify_token "$TOKEN"

Only the published JWKS is used: no database, no shared secret.
"""

import argparse
import json
import os

import jwt

PORT = os.environ.get("DEMO_PORT", "8000")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("token")
    parser.add_argument("--issuer", default=f"http://127.0.0.1:{PORT}")
    parser.add_argument("--audience", default=f"http://127.0.0.1:{PORT}/api")
    parser.add_argument("--jwks-uri", default=f"http://127.0.0.1:{PORT}/oauth/jwks")
    args = parser.parse_args()
    header = jwt.get_unverified_header(args.token)
    if header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
        raise SystemExit(f"not an RFC 9068 access token (typ={header.get('typ')!r})")
    signing_key = jwt.PyJWKClient(args.jwks_uri, timeout=5).get_signing_key_from_jwt(args.token)
    claims = jwt.decode(
        args.token,
        key=signing_key,
        algorithms=["RS256", "PS256", "ES256", "EdDSA"],
        issuer=args.issuer,
        audience=args.audience,
        options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
    )
    print(f"valid: signed by kid {header['kid']} ({header['alg']}), verified with {args.jwks_uri}")
    print(json.dumps(claims, indent=2))


if __name__ == "__main__":
    main()
