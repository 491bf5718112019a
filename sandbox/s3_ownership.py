"""S3's bucket-owner condition, which moto 5.2.5 ignores.

A request that carries ``x-amz-expected-bucket-owner`` (boto3: ``ExpectedBucketOwner``) is refused with 403
AccessDenied when the bucket exists and another account owns it; CopyObject and UploadPartCopy check
``x-amz-source-expected-bucket-owner`` (``ExpectedSourceBucketOwner``) against the source bucket the same
way. A bucket that does not exist stays NoSuchBucket (404). moto serves several accounts (the account comes
from the access key, or the ``x-moto-account-id`` header), so one account can hold a bucket another reaches.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

_PATCH = "sandbox-s3-ownership"

Response = tuple[int, dict[str, str], bytes]


def install() -> None:
    """Wraps moto's bucket and object dispatch once (applying twice is harmless)."""
    from moto.s3.responses import S3Response  # noqa: PLC0415 - moto loads lazily

    for name in ("_bucket_response", "_key_response"):
        wrap_once(S3Response, name, _checked, _PATCH)


def wrap_once(owner: Any, name: str, make_wrapper: Callable[[Any], Callable[..., Any]], marker: str) -> None:
    """Replaces ``owner.name`` (a class's method or a module's function) by ``make_wrapper(original)`` unless a
    wrapper with ``marker`` is already there."""
    original = getattr(owner, name)
    if getattr(original, "_sandbox_patch", None) == marker:
        return
    wrapper = functools.wraps(original)(make_wrapper(original))
    wrapper._sandbox_patch = marker  # type: ignore[attr-defined]
    setattr(owner, name, wrapper)


def _checked(original: Callable[..., Any]) -> Callable[..., Any]:
    def dispatch(self: Any, request: Any, full_url: str) -> Any:
        expected = self.headers.get("x-amz-expected-bucket-owner")
        if expected and self.bucket_name and _owner(self.bucket_name) not in (None, expected):
            return access_denied()
        expected_source = self.headers.get("x-amz-source-expected-bucket-owner")
        source = self.headers.get("x-amz-copy-source")
        if expected_source and source and _owner(_bucket_of(source)) not in (None, expected_source):
            return access_denied()
        return original(self, request, full_url)

    return dispatch


def _owner(bucket: str) -> str | None:
    """The account that owns ``bucket`` (bucket names are global), or None when there is no such bucket."""
    from moto.s3.models import s3_backends  # noqa: PLC0415

    found = s3_backends.bucket_accounts.get(bucket)
    return str(found[1]) if found else None


def _bucket_of(copy_source: str) -> str:
    """The bucket of an ``x-amz-copy-source`` value: ``[/]bucket/key[?versionId=...]``, URL-encoded."""
    return unquote(copy_source).lstrip("/").split("/", 1)[0]


def access_denied() -> Response:
    return s3_error(403, "AccessDenied", "Access Denied")


def s3_error(status: int, code: str, message: str) -> Response:
    """An error as S3 writes it (a HEAD request's answer carries the status only)."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
    ).encode()
    return status, {"content-type": "application/xml"}, body
