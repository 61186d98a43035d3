"""Helpers for the mutual-TLS tests: client certificates made with ``cryptography``, and an
nginx on 127.0.0.1 that terminates TLS and passes the client certificate to Django."""
