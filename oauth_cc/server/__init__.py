"""The authorization server half: endpoints, client authentication, grants, issuing,
signing-key lifecycle, introspection and revocation. ``docs/architecture.md`` draws it."""
