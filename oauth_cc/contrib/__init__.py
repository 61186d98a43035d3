"""Integrations with optional third-party packages.

Nothing in oauth_cc imports this package: a project opts in to a module here from its own
settings (``oauth_cc.contrib.spectacular``: OpenAPI schemas with drf-spectacular).
"""
