"""S3's object checksums on PutObject, which moto 5.2.5 neither verifies nor always keeps.

S3 computes the checksum a PutObject names (``x-amz-checksum-<algorithm>``, in a header or in the trailer of
an aws-chunked body) over the bytes it received; a different value is refused with 400 BadDigest ("The SHA256
you specified did not match the calculated checksum.") and nothing is stored. A verified checksum is kept with
the object and returned by HeadObject/GetObject with ``ChecksumMode=ENABLED``.

moto as found: it stores whatever value the client claims without computing it, and ignores a checksum header
sent without ``x-amz-sdk-checksum-algorithm`` (raw HTTP clients send only the former). Here both cases behave
like S3 for the algorithms the sandbox can compute exactly: CRC32, SHA1 and SHA256. CRC32C and CRC64NVME need
libraries this environment does not have (botocore cannot send them without awscrt either); they pass as moto
handles them.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zlib
from collections.abc import Callable
from typing import Any

from sandbox.s3_ownership import s3_error, wrap_once

_PATCH = "sandbox-s3-checksums"

DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "CRC32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
    "SHA1": lambda data: hashlib.sha1(data).digest(),  # noqa: S324 - S3's checksum, not a security use
    "SHA256": lambda data: hashlib.sha256(data).digest(),
}


def checksum(algorithm: str, data: bytes) -> str:
    """The value S3 computes and returns: base64 of the digest."""
    return base64.b64encode(DIGESTS[algorithm](data)).decode()


def install() -> None:
    """Wraps moto's PutObject once (applying twice is harmless)."""
    from moto.s3.responses import S3Response  # noqa: PLC0415 - moto loads lazily

    wrap_once(S3Response, "put_object", _verified, _PATCH)


def _verified(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def put_object(self: Any) -> Any:
        body = self.body if isinstance(self.body, bytes) else str(self.body or "").encode()
        claimed = _claimed(self)
        for algorithm, value in claimed.items():
            if checksum(algorithm, body) != value:
                return s3_error(
                    400, "BadDigest", f"The {algorithm} you specified did not match the calculated checksum."
                )
        status, headers, payload = original(self)
        if claimed and status == 200:
            _keep(self, headers, *next(iter(claimed.items())))
        return status, headers, payload

    return put_object


def _claimed(response: Any) -> dict[str, str]:
    """Checksum values the request names for the algorithms the sandbox computes, from headers or the trailer."""
    claimed: dict[str, str] = {}
    trailer = str(response.headers.get("x-amz-trailer") or "").lower()
    for algorithm in DIGESTS:
        name = f"x-amz-checksum-{algorithm.lower()}"
        value = response.headers.get(name)
        if not value and trailer == name:
            found = re.search(rb"\r?\n" + name.encode() + rb":([A-Za-z0-9+/=]+)", response.raw_body or b"")
            value = found.group(1).decode() if found else None
        if value:
            claimed[algorithm] = str(value).strip()
    return claimed


def _keep(response: Any, headers: dict[str, str], algorithm: str, value: str) -> None:
    """Stores a verified checksum that moto dropped (no SDK algorithm header) and answers it as S3 does."""
    key = response.backend.get_object(response.bucket_name, response.parse_key_name())
    if key is not None and not key.checksum_algorithm:
        key.checksum_algorithm, key.checksum_value = algorithm, value
    headers.setdefault(f"x-amz-checksum-{algorithm.lower()}", value)
