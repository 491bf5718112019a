"""The embedded local AWS: moto's server behind a thin WSGI layer that adds realism and faults.

Every request passes through :class:`SandboxApp`, which refuses what is not an AWS API call from a
program on this machine (``sandbox.front_door``), identifies the service and action, lets the fault
controls delay, throttle or fail it, records it, and only then hands it to moto under one lock (moto's
backends are not written for concurrent mutation).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from sandbox import moto_patches, s3_checksums, s3_ownership, sqs_move_tasks
from sandbox.api_call import ACCOUNT_ID, DEFAULT_REGION, ApiCall, identify, tag_keys, tagged_resources
from sandbox.clock import SandboxClock
from sandbox.faults import FaultControls
from sandbox.front_door import moto_api_refusal, refusal
from sandbox.imds import InstanceMetadataService
from sandbox.lifecycle import LifecycleEngine

__all__ = ["ACCOUNT_ID", "DEFAULT_REGION", "CallJournal", "CallRecord", "Sandbox", "SandboxApp", "error_response"]

StartResponse = Callable[..., Any]


@dataclass
class CallRecord:
    service: str
    action: str
    status: int
    error_code: str | None
    # The resource ids and tag keys of an EC2 CreateTags / DeleteTags call (empty for every other call).
    resources: tuple[str, ...] = ()
    tag_keys: tuple[str, ...] = ()
    # Sandbox-clock seconds when the request arrived and when it was answered (0 when not recorded).
    started_at: float = 0.0
    ended_at: float = 0.0
    # The request's query parameters (empty for JSON-protocol services): which instance, token or filter it named.
    params: Mapping[str, list[str]] = field(default_factory=dict)


class CallJournal:
    """Every request the sandbox answered, in order; tests and the benchmark count from it.

    With a clock, each record carries when its request arrived and was answered (the benchmark's timelines).
    """

    def __init__(self, clock: SandboxClock | None = None) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []
        self._clock = clock

    def now(self) -> float:
        return self._clock.now() if self._clock is not None else 0.0

    def record(self, call: ApiCall, status: int, error_code: str | None, started_at: float) -> None:
        """Adds the record of ``call``, answered now."""
        self.add(
            CallRecord(
                call.service,
                call.action,
                status,
                error_code,
                tagged_resources(call),
                tag_keys(call),
                started_at,
                self.now(),
                call.params,
            )
        )

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[CallRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def count(self, service: str | None = None, action: str | None = None) -> int:
        return sum(
            1
            for r in self.records()
            if (service is None or r.service == service) and (action is None or r.action == action)
        )


def error_response(call: ApiCall, status: int, code: str, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """An error body shaped the way the service's protocol shapes it, so botocore parses the code."""
    request_id = str(uuid.uuid4())
    if call.json_protocol:
        body = json.dumps({"__type": f"com.amazonaws.{call.service}#{code}", "message": message}).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-query-error", f"{code};Sender"),
        ]
    elif call.service == "ec2":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{_xml_escape(message)}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    else:
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>{kind}</Type>'
            f"<Code>{code}</Code><Message>{_xml_escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    headers.append(("Content-Length", str(len(body))))
    return f"{status} {_REASONS.get(status, 'Error')}", headers, body


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _reset_connection(environ: dict[str, Any]) -> None:
    """Closes the client's socket with an RST, the way a dropped connection looks to botocore."""
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


class _ConnectionReset(ConnectionResetError):
    """Raised after the socket was reset so werkzeug abandons the request (as a dropped connection:
    no 500 written to the dead socket, no "Error on request" traceback in the log)."""


class SandboxApp:
    """WSGI middleware: refuse, identify, apply faults, dispatch to moto under the lock, record."""

    def __init__(
        self,
        inner: DomainDispatcherApplication,
        controls: FaultControls,
        journal: CallJournal,
        lock: threading.RLock,
    ) -> None:
        self._inner = inner
        self._controls = controls
        self._journal = journal
        self._lock = lock

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started_at = self._journal.now()
        body = _read_body(environ)
        call = identify(environ, body)
        refused = refusal(environ) or moto_api_refusal(self._inner, environ)
        if refused is not None:
            return self._error(call, 403, "AccessDenied", refused, start_response, started_at)
        environ["wsgi.input"] = io.BytesIO(body)  # moto's routing may have read it
        rejection = self._controls.before_call(call)
        if rejection is not None:
            if rejection.reset_connection:
                self._journal.record(call, 0, "ConnectionReset", started_at)
                _reset_connection(environ)
                raise _ConnectionReset(call.action)
            return self._error(call, rejection.status, rejection.code, rejection.message, start_response, started_at)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        try:
            chunks = self._run(environ, capture, call, body)
        except Exception as exc:  # an unexpected moto failure must still look like AWS, never a traceback
            return self._error(call, 500, "InternalFailure", f"sandbox: {exc!r}", start_response, started_at)
        status_line: str = captured.get("status", "500 Internal Server Error")
        headers = list(captured.get("headers", []))
        code = int(status_line.split(" ", 1)[0])
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        if code >= 500 and "html" in content_type:
            status_line, headers, chunks = error_response(call, 500, "InternalFailure", "sandbox internal error")
        error_code = _error_code(chunks) if code >= 400 else None
        self._journal.record(call, code, error_code, started_at)
        self._controls.after_call(call, code)
        start_response(status_line, headers)
        return [chunks]

    def _error(
        self, call: ApiCall, status: int, code: str, message: str, start_response: StartResponse, started_at: float
    ) -> Iterable[bytes]:
        """Answers with an AWS error instead of moto, and records it."""
        self._journal.record(call, status, code, started_at)
        status_line, headers, payload = error_response(call, status, code, message)
        start_response(status_line, headers)
        return [payload]

    def _run(self, environ: dict[str, Any], capture: StartResponse, call: ApiCall, body: bytes) -> bytes:
        """Hands the request to moto under the lock; SQS long polls wait outside it.

        moto's own long poll sleeps inside the request, which would hold the lock and stall every
        other caller, so the wait is done here as a series of short polls.
        """
        wait_seconds, short_body = _long_poll(call, body)
        deadline = time.monotonic() + wait_seconds
        while True:
            if short_body is not None:
                environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(short_body), str(len(short_body))
            with self._lock:
                chunks = b"".join(self._inner(environ, capture))
            if short_body is None or time.monotonic() >= deadline or _has_messages(chunks):
                return chunks
            time.sleep(min(_LONG_POLL_INTERVAL, max(0.0, deadline - time.monotonic())))


_LONG_POLL_INTERVAL = 0.05


def _long_poll(call: ApiCall, body: bytes) -> tuple[float, bytes | None]:
    """For an SQS ReceiveMessage with WaitTimeSeconds > 0: the wait and the same request with no wait."""
    if call.service != "sqs" or call.action != "ReceiveMessage" or not call.json_protocol:
        return 0.0, None
    try:
        request = json.loads(body or b"{}")
        wait = float(request.get("WaitTimeSeconds") or 0)
    except (ValueError, TypeError, AttributeError):
        return 0.0, None
    if not 0 < wait <= 20:  # out-of-range values reach moto unchanged, for its validation error
        return 0.0, None
    request["WaitTimeSeconds"] = 0
    return wait, json.dumps(request).encode()


def _has_messages(payload: bytes) -> bool:
    try:
        return bool(json.loads(payload).get("Messages"))
    except (ValueError, AttributeError):
        return True  # not an answer we understand: hand it back rather than poll again


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _error_code(payload: bytes) -> str | None:
    text = payload[:2000].decode("utf-8", "replace")
    if "<Code>" in text:
        return text.split("<Code>", 1)[1].split("</Code>", 1)[0]
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(text).get("__type", "")).rsplit("#", 1)[-1] or None
    return None


class _QuietHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Request lines would drown the demo's output."""

    def log_error(self, *args: Any) -> None:
        """Resets we inject are expected; werkzeug need not report them."""


class Sandbox:
    """The embedded local AWS, started in-process on a free port (or a chosen one).

    Use as a context manager; ``endpoint_url`` and ``env()`` tell boto3 where it is.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        clock_scale: float = 1.0,
        controls: FaultControls | None = None,
    ) -> None:
        self.host = host
        self.clock = SandboxClock(scale=clock_scale)
        self.controls = controls or FaultControls(clock=self.clock)
        self.journal = CallJournal(self.clock)
        self.lock = threading.RLock()
        self.lifecycle = LifecycleEngine(clock=self.clock, lock=self.lock)
        self.imds = InstanceMetadataService(clock=self.clock, lock=self.lock)
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Variables that point boto3 and the AWS CLI at this sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's fixed dummy credentials
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION),
        }

    def imds_endpoint(self, instance_id: str) -> str:
        """What stands for ``http://169.254.169.254`` on one instance (sandbox.imds serves it)."""
        return self.imds.endpoint(self.endpoint_url, instance_id)

    def start(self) -> Sandbox:
        moto_patches.apply(self)
        sqs_move_tasks.install(self.clock, self.lock)
        s3_ownership.install()
        s3_checksums.install()
        self.lifecycle.start()
        app = SandboxApp(DomainDispatcherApplication(create_backend_app), self.controls, self.journal, self.lock)
        routed = self.imds.wrap(app)  # instance metadata paths are not AWS API calls: they bypass faults and journal
        self._server = make_server(self.host, self._port, routed, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.lifecycle.stop()
        sqs_move_tasks.uninstall()
        moto_patches.release(self)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, service: str, **kwargs: Any) -> Any:
        """A plain boto3 client pointed at this sandbox (tests and tools use exactly what users use)."""
        import boto3  # noqa: PLC0415 - only the tools need boto3 here

        env = self.env()
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=kwargs.pop("region_name", env["AWS_DEFAULT_REGION"]),
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            **kwargs,
        )
