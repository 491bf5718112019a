"""What the sandbox refuses before anything else: it serves AWS's API to programs, never to a web page.

moto's server was written for test suites: it answers any ``Origin`` with CORS headers and serves its
own management API under ``/moto-api/`` (reset, a recorder that writes files into the working
directory, proxy passthrough, seeding, a state manager). Left as it is, a page open in the operator's
browser could drive the sandbox. So the server refuses, with HTTP 403 and an AWS-shaped error:

* a request carrying ``Origin`` or ``Sec-Fetch-Site``: only browsers send them, no SDK or CLI does;
* a request whose ``Host`` is not a loopback name (``127.0.0.1``, ``localhost`` or ``[::1]``, any
  port): a name that merely resolved to this machine is DNS rebinding;
* any request moto would hand to its management API, whichever way it was routed there.

moto's CORS layer is switched off as well (``sandbox.moto_patches``), so no answer carries
``Access-Control-*`` headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
# WSGI keys of the headers only a browser sends.
_BROWSER_HEADERS = {"HTTP_ORIGIN": "Origin", "HTTP_SEC_FETCH_SITE": "Sec-Fetch-Site"}
# moto's names for its management API: by path (/moto-api/...) and by URL pattern (motoapi.amazonaws.com).
_MOTO_API_BACKENDS = frozenset({"moto_api", "moto_api._internal"})


def refusal(environ: Mapping[str, Any]) -> str | None:
    """Why a request must not reach AWS's API (a browser made it, or it was addressed to another name)."""
    for key, header in _BROWSER_HEADERS.items():
        if key in environ:
            return f"the sandbox does not answer web pages: the request carries a {header} header"
    host = environ.get("HTTP_HOST")
    if not is_loopback(host):
        return f"the sandbox answers only requests addressed to 127.0.0.1, localhost or [::1], not Host {host!r}"
    return None


def moto_api_refusal(dispatcher: DomainDispatcherApplication, environ: dict[str, Any]) -> str | None:
    """Why a request must not reach moto's management API; None when moto routes it to an AWS service.

    Asks moto's own dispatcher, so every route to the management API is covered, not only the path.
    """
    app = dispatcher.get_application(environ)
    if getattr(app, "service", None) in _MOTO_API_BACKENDS:
        return "moto's management API is not served by the sandbox"
    return None


def is_loopback(host: str | None) -> bool:
    """True for ``127.0.0.1``, ``localhost`` and ``[::1]``, with or without a numeric port."""
    if not host:
        return False
    host = host.lower()
    if host.startswith("["):
        name, bracket, rest = host.partition("]")
        name += bracket
    else:
        name, colon, port = host.partition(":")
        rest = colon + port
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return False
    return name in LOOPBACK_HOSTS
