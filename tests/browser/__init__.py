"""Browser tests of the Django admin: headless Chromium over pytest-django's live server.

Not part of ``make test`` (pyproject.toml ignores this folder); run them with
``make test-browser``.
"""
