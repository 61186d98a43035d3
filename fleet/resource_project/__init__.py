"""A resource server in another Django project: oauth_cc is not in ``INSTALLED_APPS`` (no
oauth_cc tables, no database at all); it checks tokens in remote mode, with the JWKS fetched
over TLS from the fleet's nginx."""
