import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nodeless_saas.settings")
application = get_wsgi_application()
# Django imports the URLconf, and with it every view module, on the first request. Loading it here
# lets each gunicorn worker pay that (over a second of CPU) when it starts, rather than a user's
# request after every deploy or worker restart waiting for it.
get_resolver().url_patterns  # noqa: B018 (the lookup is the import)
