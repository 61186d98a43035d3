"""The demo under an ASGI server: ``uvicorn demo_project.asgi:application``.

The token endpoint and the DRF views run in Django's thread pool as under WSGI; the async
views (``demo_project.async_api``) run on the event loop, their tokens verified without
blocking it.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
application = get_asgi_application()
