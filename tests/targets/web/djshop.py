"""A minimal Django application (one module: settings, views and URLs) for
the per-endpoint tests (--split django): a pure-Python view behind two view
decorators, a zlib view, and one that sleeps.

Run it under gunicorn: gunicorn -w 1 -b 127.0.0.1:PORT --chdir DIR djshop:application
"""

import time
import zlib

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="sprofd-test-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402
from django.views.decorators.http import require_GET  # noqa: E402

PAYLOAD = bytes((i * 7 + (i >> 5)) & 0xFF for i in range(128 * 1024))


def crunch(steps):
    total = 0
    for i in range(steps):
        total += i * i % 7
    return total


def squeeze(data):
    return zlib.compress(data, 6)


@csrf_exempt
@require_GET
def report_view(request):
    return HttpResponse(str(crunch(20000)))


def archive_view(request):
    return HttpResponse(str(len(squeeze(PAYLOAD))))


def nap_view(request):
    time.sleep(0.02)
    return HttpResponse("slept")


urlpatterns = [
    path("cpu", report_view),
    path("compress", archive_view),
    path("sleep", nap_view),
]

application = get_wsgi_application()
