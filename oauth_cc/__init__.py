"""oauth_cc: an OAuth 2.0 client-credentials authorization server for Django."""

__version__ = "0.1.0"
