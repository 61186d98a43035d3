"""Error reports that never show a credential.

Django's error reports (the DEBUG page, the admin e-mails) hide settings and request headers
whose names look secret, but not ``Authorization``, which carries client secrets (Basic)
and access tokens (Bearer, DPoP). Our endpoints and protected views set this filter on each
request they handle, so that a report of any failure during it hides those headers too.
"""

from __future__ import annotations

import re

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter


class CredentialHidingFilter(SafeExceptionReporterFilter):
    """Django's filter, with ``Authorization`` and proof headers among the hidden names."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|AUTHORIZATION|DPOP|ASSERTION",
        flags=re.IGNORECASE,
    )


FILTER = CredentialHidingFilter()


def protect(request: HttpRequest) -> None:
    """Use the credential-hiding filter for any error report about ``request``."""
    request.exception_reporter_filter = FILTER
