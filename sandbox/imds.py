"""Instance metadata (IMDS) for the sandbox's EC2 instances, one metadata service per instance under a path prefix.

On AWS an instance reads its metadata at ``http://169.254.169.254/latest/...``. Here instance ``i-0abc`` reads it at
``<endpoint>/imds/i-0abc/latest/...`` (see :meth:`InstanceMetadataService.endpoint`), so a test picks the instance
by the address it gives a program, and the program's own paths stay exactly those of AWS.

What is served (everything else answers 404, as IMDS does for a path it does not know):
- ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds: 1..21600``: an IMDSv2 token for this
  instance that expires on the sandbox clock (a test with a fast clock can outlive it); a missing or out-of-range
  TTL answers 400.
- ``GET /latest/meta-data/`` (listing), ``instance-id``, ``local-ipv4``, ``tags/instance/`` (the readable tag keys,
  one a line) and ``tags/instance/<key>`` (the value).

Tokens, as IMDS does: a GET that presents a token must present a valid one (issued for this instance and not expired)
or it answers 401; a GET with no token (an IMDSv1 call) answers 401 when the instance's ``HttpTokens`` is
``required`` and is served when it is ``optional``. Tags: when ``InstanceMetadataTags`` is not ``enabled`` the tags
paths answer 404. Tag keys outside IMDS's rules (letters, digits and ``+ - = . , _ : @`` only, so no spaces or
``/``; not ``.``, ``..`` or ``_index``) are never listed or served: AWS refuses to launch or enable tags for an
instance that has such keys, the sandbox just leaves them out.

Metadata options, and what moto 5.2.5 stores: an instance's ``metadata_options`` holds the RunInstances
``MetadataOptions`` (moto's defaults otherwise: ``HttpTokens`` optional, ``InstanceMetadataTags`` disabled); an
instance launched from a launch template (an Auto Scaling group's, or RunInstances with ``LaunchTemplate``) does
*not* get the template's ``MetadataOptions`` copied onto it, but carries the tags ``aws:ec2launchtemplate:id`` and
``aws:ec2launchtemplate:version`` naming the version it was launched from, whose data keeps ``MetadataOptions`` as
given. ModifyInstanceMetadataOptions replaces the instance's options and leaves the fields it was not given as
None. So each option is the instance's own value when that differs from moto's default (set by RunInstances or
ModifyInstanceMetadataOptions), else the launch template version's value, else the default. The one case this
cannot tell apart: an instance-level value set back to the default (``optional`` / ``disabled``) on an instance
whose template says otherwise shows the template's value, because moto keeps no record that it was set.
``HttpEndpoint`` and the PUT hop limit are not modelled.

Requests pass the sandbox's front door first (sandbox.front_door: loopback ``Host`` only, nothing a browser
sent); anything else answers 403. Every request is journaled (:class:`ImdsJournal`: method, path, whether a token
was presented, status), so a test can check that a program never made an IMDSv1 call.
"""

from __future__ import annotations

import html
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from moto.ec2.exceptions import InvalidInstanceIdError
from moto.ec2.models import ec2_backends

from sandbox.front_door import refusal

if TYPE_CHECKING:
    from sandbox.clock import SandboxClock

IMDS_PREFIX = "/imds/"
TOKEN_PATH = "/latest/api/token"
META_DATA = "/latest/meta-data/"
TAGS_PATH = META_DATA + "tags/instance"
MAX_TOKEN_TTL_SECONDS = 21600
_TTL_HEADER = "HTTP_X_AWS_EC2_METADATA_TOKEN_TTL_SECONDS"
_TOKEN_HEADER = "HTTP_X_AWS_EC2_METADATA_TOKEN"
_DIGITS = re.compile(r"[0-9]{1,6}")
_READABLE_TAG_KEY = re.compile(r"[A-Za-z0-9+\-=.,_:@]+")
_UNREADABLE_TAG_KEYS = {".", "..", "_index"}
_MOTO_DEFAULT_OPTIONS = {"HttpTokens": "optional", "InstanceMetadataTags": "disabled"}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
}

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def readable_tag_key(key: str) -> bool:
    """Whether IMDS can serve a tag with this key (its documented key rules for tags in instance metadata)."""
    return _READABLE_TAG_KEY.fullmatch(key) is not None and key not in _UNREADABLE_TAG_KEYS


@dataclass(frozen=True)
class MetadataOptions:
    """The two options this service honours, as in EC2's InstanceMetadataOptions."""

    http_tokens: str
    instance_metadata_tags: str


@dataclass(frozen=True)
class ImdsRequest:
    """One request as the journal keeps it; ``path`` is the part after the instance's prefix."""

    instance_id: str
    method: str
    path: str
    token_presented: bool
    status: int


class ImdsJournal:
    """Every metadata request the sandbox answered, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[ImdsRequest] = []

    def add(self, record: ImdsRequest) -> None:
        with self._lock:
            self._records.append(record)

    def records(self, instance_id: str | None = None) -> list[ImdsRequest]:
        with self._lock:
            return [r for r in self._records if instance_id is None or r.instance_id == instance_id]


@dataclass(frozen=True)
class _Instance:
    """What the metadata service needs of one instance, read from moto under the sandbox lock."""

    instance_id: str
    private_ip: str | None
    tags: dict[str, str]
    options: MetadataOptions


@dataclass(frozen=True)
class _Token:
    instance_id: str
    expires_at: float


@dataclass(frozen=True)
class Answer:
    """One IMDS response: values are plain text, errors a small HTML page (as IMDS sends them)."""

    status: int
    body: str
    content_type: str = "text/plain"
    headers: tuple[tuple[str, str], ...] = ()


class InstanceMetadataService:
    """Answers ``/imds/<instance-id>/latest/...`` from moto's EC2 state; everything else goes to the wrapped app."""

    def __init__(self, clock: SandboxClock, lock: threading.RLock) -> None:
        self._clock = clock
        self._moto_lock = lock
        self._tokens_lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self.journal = ImdsJournal()

    @staticmethod
    def endpoint(base_url: str, instance_id: str) -> str:
        """The address that stands for ``http://169.254.169.254`` on instance ``instance_id``."""
        return f"{base_url.rstrip('/')}{IMDS_PREFIX}{instance_id}"

    def expire_tokens(self, instance_id: str) -> int:
        """Ends every token issued to the instance, as if their TTL had run out; returns how many.

        A test that needs a token to expire mid-wait uses this rather than racing sandbox time six hours ahead
        (the TTL programs usually ask for), which every later test in the session would inherit.
        """
        now = self._clock.now()
        with self._tokens_lock:
            ended = {
                value: _Token(instance_id, now) for value, t in self._tokens.items() if t.instance_id == instance_id
            }
            self._tokens.update(ended)
        return len(ended)

    def wrap(self, app: WsgiApp) -> WsgiApp:
        """A WSGI app that serves metadata paths here and hands every other request to ``app``."""

        def route(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            if str(environ.get("PATH_INFO", "")).startswith(IMDS_PREFIX):
                return self(environ, start_response)
            return app(environ, start_response)

        return route

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        instance_id, _, rest = str(environ.get("PATH_INFO", ""))[len(IMDS_PREFIX) :].partition("/")
        path = "/" + rest
        method = str(environ.get("REQUEST_METHOD", "GET"))
        token = environ.get(_TOKEN_HEADER)
        refused = refusal(environ)  # the sandbox's front door: programs on loopback only, never a web page
        if refused is not None:
            answer = _error(403, refused)
        else:
            answer = self.answer(method, instance_id, path, token, environ.get(_TTL_HEADER))
        self.journal.add(ImdsRequest(instance_id, method, path, token is not None, answer.status))
        payload = answer.body.encode("utf-8")
        start_response(
            f"{answer.status} {_REASONS[answer.status]}",
            [("Content-Type", answer.content_type), ("Content-Length", str(len(payload))), *answer.headers],
        )
        return [payload]

    def answer(self, method: str, instance_id: str, path: str, token: str | None, ttl: str | None) -> Answer:
        """The response IMDS on ``instance_id`` gives to one request (``path`` starts at ``/latest``)."""
        instance = self._instance(instance_id)
        if instance is None:
            return _error(404)
        if path == TOKEN_PATH:
            return self._issue_token(method, instance_id, ttl)
        if method != "GET":
            return _error(405)
        if not self._authorised(instance, token):
            return _error(401)
        if path.startswith(TAGS_PATH):
            return _tags(instance, path[len(TAGS_PATH) :])
        return _meta_data(instance, path)

    def _issue_token(self, method: str, instance_id: str, ttl: str | None) -> Answer:
        if method != "PUT":
            return _error(405)
        seconds = int(ttl) if ttl is not None and _DIGITS.fullmatch(ttl.strip()) else 0
        if not 1 <= seconds <= MAX_TOKEN_TTL_SECONDS:
            return _error(400)
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._tokens_lock:
            self._tokens = {value: t for value, t in self._tokens.items() if t.expires_at > now}
            self._tokens[token] = _Token(instance_id, now + seconds)
        return Answer(200, token, headers=(("X-aws-ec2-metadata-token-ttl-seconds", str(seconds)),))

    def _authorised(self, instance: _Instance, token: str | None) -> bool:
        if token is None:
            return instance.options.http_tokens != "required"
        with self._tokens_lock:
            issued = self._tokens.get(token)
        return (
            issued is not None and issued.instance_id == instance.instance_id and self._clock.now() < issued.expires_at
        )

    def _instance(self, instance_id: str) -> _Instance | None:
        """The instance as moto holds it in whichever account and Region it lives; None when unknown or terminated."""
        with self._moto_lock:
            for account in list(dict.values(ec2_backends)):
                for backend in list(dict.values(account)):
                    try:
                        found = backend.get_instance(instance_id)
                    except InvalidInstanceIdError:
                        continue
                    if found.state == "terminated":
                        return None
                    tags = dict(backend.tags.get(instance_id) or {})
                    return _Instance(instance_id, found.private_ip, tags, _effective_options(backend, found, tags))
        return None


def _effective_options(backend: Any, instance: Any, tags: dict[str, str]) -> MetadataOptions:
    """The instance's own option where something set it, else its launch template version's, else the default."""
    own = {
        "HttpTokens": instance.metadata_options.http_tokens,
        "InstanceMetadataTags": instance.metadata_options.instance_metadata_tags,
    }
    template = _launch_template_options(backend, tags)

    def option(name: str) -> str:
        value = own[name]
        if value is not None and value != _MOTO_DEFAULT_OPTIONS[name]:
            return str(value)
        return str(template.get(name) or _MOTO_DEFAULT_OPTIONS[name])

    return MetadataOptions(http_tokens=option("HttpTokens"), instance_metadata_tags=option("InstanceMetadataTags"))


def _launch_template_options(backend: Any, tags: dict[str, str]) -> dict[str, Any]:
    """``MetadataOptions`` of the launch template version named by the instance's ``aws:ec2launchtemplate:*`` tags."""
    template_id, version = tags.get("aws:ec2launchtemplate:id"), tags.get("aws:ec2launchtemplate:version")
    if not template_id or not version:
        return {}
    template = backend.launch_templates.get(template_id)
    if template is None:  # deleted since the launch: the instance keeps what it launched with, which is lost here
        return {}
    options = template.get_version(version).data.get("MetadataOptions") or {}
    return dict(options)


def _tags(instance: _Instance, rest: str) -> Answer:
    if instance.options.instance_metadata_tags != "enabled":
        return _error(404)
    readable = {key: value for key, value in instance.tags.items() if readable_tag_key(key)}
    if rest in ("", "/"):
        return Answer(200, "\n".join(sorted(readable)))
    key = unquote(rest[1:]) if rest.startswith("/") else None
    if key is None or key not in readable:
        return _error(404)
    return Answer(200, readable[key])


def _meta_data(instance: _Instance, path: str) -> Answer:
    tags_enabled = instance.options.instance_metadata_tags == "enabled"
    values = {"instance-id": instance.instance_id, "local-ipv4": instance.private_ip}
    if path in (META_DATA, META_DATA.rstrip("/")):
        listing = [name for name, value in values.items() if value]
        return Answer(200, "\n".join([*listing, "tags/"] if tags_enabled else listing))
    if path in (META_DATA + "tags", META_DATA + "tags/") and tags_enabled:
        return Answer(200, "instance")
    value = values.get(path[len(META_DATA) :]) if path.startswith(META_DATA) else None
    return Answer(200, value) if value else _error(404)


def _error(status: int, reason: str = "") -> Answer:
    """IMDS answers errors with a small HTML page, not a value: a client that ignores the status reads garbage."""
    title = f"{status} - {_REASONS[status]}"
    detail = f"  <p>{html.escape(reason)}</p>\n" if reason else ""
    page = (
        '<?xml version="1.0" encoding="iso-8859-1"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
        f" <head>\n  <title>{title}</title>\n </head>\n <body>\n  <h1>{title}</h1>\n{detail} </body>\n</html>\n"
    )
    return Answer(status, page, content_type="text/html")
