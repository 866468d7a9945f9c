"""A minimal Django application (one module: settings, views and URLs) for
the per-endpoint tests (--split django): a pure-Python view behind two view
decorators, a zlib view, and one that sleeps. As splitshop.py does, each
view adds its requests and the CPU time its own thread spent inside it
(time.thread_time) to a table that /stats returns (JSON) and /reset clears.

Run it under gunicorn: gunicorn -w 1 -b 127.0.0.1:PORT --chdir DIR djshop:application
"""

import json
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

PAYLOAD = bytes((i * 7 + (i >> 5)) & 0xFF for i in range(512 * 1024))

stats = {}


def note(view, t0):
    """Counts a request of view and its CPU since t0 (time.thread_time)."""
    n, cpu = stats.get(view, (0, 0.0))
    stats[view] = (n + 1, cpu + time.thread_time() - t0)


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
    t0 = time.thread_time()
    r = HttpResponse(str(crunch(100000)))
    note("report_view", t0)
    return r


def archive_view(request):
    t0 = time.thread_time()
    r = HttpResponse(str(len(squeeze(PAYLOAD))))
    note("archive_view", t0)
    return r


def nap_view(request):
    t0 = time.thread_time()
    time.sleep(0.02)
    r = HttpResponse("slept")
    note("nap_view", t0)
    return r


def stats_view(request):
    return HttpResponse(json.dumps(stats), content_type="application/json")


def reset_view(request):
    stats.clear()
    return HttpResponse("reset")


urlpatterns = [
    path("cpu", report_view),
    path("compress", archive_view),
    path("sleep", nap_view),
    path("stats", stats_view),
    path("reset", reset_view),
]

application = get_wsgi_application()
