"""S3 in the sandbox honours ExpectedBucketOwner and verifies object checksums, as S3 does (moto 5.2.5 does
neither: sandbox/s3_ownership.py, sandbox/s3_checksums.py)."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox import Sandbox
from sandbox.server import ACCOUNT_ID
from tests.support.accounts import as_account

OTHER_ACCOUNT = "111111111111"


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _error(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["ResponseMetadata"]["HTTPStatusCode"], raised.value.response["Error"]["Code"]


@pytest.fixture
def squatted(sandbox: Sandbox, unique: str) -> str:
    """A bucket another account created, holding one object."""
    other = as_account(sandbox.client("s3"), OTHER_ACCOUNT)
    bucket = f"squatted-{unique}"
    other.create_bucket(Bucket=bucket)
    other.put_object(Bucket=bucket, Key="code.zip", Body=b"planted")
    return bucket


def test_a_bucket_of_another_account_is_refused_when_the_caller_names_its_own(sandbox: Sandbox, squatted: str) -> None:
    s3 = sandbox.client("s3")
    # GIVEN another account's bucket the caller can reach (moto, like a bucket policy, lets it through)
    assert s3.head_bucket(Bucket=squatted)["ResponseMetadata"]["HTTPStatusCode"] == 200
    # WHEN the caller says which owner it expects THEN every bucket and object call is 403 AccessDenied
    assert _error(lambda: s3.head_bucket(Bucket=squatted, ExpectedBucketOwner=ACCOUNT_ID)) == (403, "403")
    assert _error(lambda: s3.head_object(Bucket=squatted, Key="code.zip", ExpectedBucketOwner=ACCOUNT_ID)) == (
        403,
        "403",
    )
    assert _error(lambda: s3.get_object(Bucket=squatted, Key="code.zip", ExpectedBucketOwner=ACCOUNT_ID)) == (
        403,
        "AccessDenied",
    )
    assert _error(
        lambda: s3.put_object(Bucket=squatted, Key="code.zip", Body=b"mine", ExpectedBucketOwner=ACCOUNT_ID)
    ) == (403, "AccessDenied")
    assert _error(
        lambda: s3.put_public_access_block(
            Bucket=squatted,
            PublicAccessBlockConfiguration={"BlockPublicAcls": True},
            ExpectedBucketOwner=ACCOUNT_ID,
        )
    ) == (403, "AccessDenied")
    # AND nothing was written
    assert s3.get_object(Bucket=squatted, Key="code.zip")["Body"].read() == b"planted"
    # AND naming the real owner passes
    assert (
        s3.head_bucket(Bucket=squatted, ExpectedBucketOwner=OTHER_ACCOUNT)["ResponseMetadata"]["HTTPStatusCode"] == 200
    )


def test_a_copy_checks_the_expected_owner_of_its_source(sandbox: Sandbox, squatted: str, unique: str) -> None:
    s3 = sandbox.client("s3")
    mine = f"mine-{unique}"
    s3.create_bucket(Bucket=mine)
    source = {"Bucket": squatted, "Key": "code.zip"}
    assert _error(
        lambda: s3.copy_object(Bucket=mine, Key="copy", CopySource=source, ExpectedSourceBucketOwner=ACCOUNT_ID)
    ) == (403, "AccessDenied")
    s3.copy_object(Bucket=mine, Key="copy", CopySource=source, ExpectedSourceBucketOwner=OTHER_ACCOUNT)
    assert s3.get_object(Bucket=mine, Key="copy")["Body"].read() == b"planted"


def test_an_absent_bucket_is_still_not_found_with_an_expected_owner(sandbox: Sandbox, unique: str) -> None:
    s3 = sandbox.client("s3")
    assert _error(lambda: s3.head_bucket(Bucket=f"absent-{unique}", ExpectedBucketOwner=ACCOUNT_ID)) == (404, "404")


def test_the_callers_own_bucket_passes_with_its_account(sandbox: Sandbox, unique: str) -> None:
    s3 = sandbox.client("s3")
    bucket = f"own-{unique}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ExpectedBucketOwner=ACCOUNT_ID)
    assert s3.head_object(Bucket=bucket, Key="k", ExpectedBucketOwner=ACCOUNT_ID)["ContentLength"] == 1


def test_s3_stores_and_returns_the_sha256_it_verified(sandbox: Sandbox, unique: str) -> None:
    s3 = sandbox.client("s3")
    bucket = f"sums-{unique}"
    s3.create_bucket(Bucket=bucket)
    body = b"the artifact"
    # WHEN uploaded with ChecksumAlgorithm=SHA256 (botocore computes the value)
    put = s3.put_object(Bucket=bucket, Key="a", Body=body, ChecksumAlgorithm="SHA256")
    # THEN S3 answers and keeps the base64 of the SHA-256 digest
    assert put["ChecksumSHA256"] == sha256_b64(body)
    assert s3.head_object(Bucket=bucket, Key="a", ChecksumMode="ENABLED")["ChecksumSHA256"] == sha256_b64(body)
    # AND a value given without the SDK's algorithm header is verified and kept too
    s3.put_object(Bucket=bucket, Key="b", Body=body, ChecksumSHA256=sha256_b64(body))
    assert s3.head_object(Bucket=bucket, Key="b", ChecksumMode="ENABLED")["ChecksumSHA256"] == sha256_b64(body)
    # AND without ChecksumMode no checksum is returned
    assert "ChecksumSHA256" not in s3.head_object(Bucket=bucket, Key="a")


@pytest.mark.parametrize(
    ("algorithm", "parameter", "wrong"),
    [
        ("SHA256", "ChecksumSHA256", sha256_b64(b"other bytes")),
        ("SHA1", "ChecksumSHA1", base64.b64encode(hashlib.sha1(b"other bytes").digest()).decode()),  # noqa: S324
        ("CRC32", "ChecksumCRC32", base64.b64encode(zlib.crc32(b"other bytes").to_bytes(4, "big")).decode()),
    ],
)
def test_a_checksum_that_does_not_match_the_body_is_refused_and_nothing_is_stored(
    sandbox: Sandbox, unique: str, algorithm: str, parameter: str, wrong: str
) -> None:
    s3 = sandbox.client("s3")
    bucket = f"bad-{unique}"
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="k", Body=b"the artifact", ChecksumAlgorithm=algorithm, **{parameter: wrong})
    error = raised.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (400, "BadDigest")
    assert error["Error"]["Message"] == f"The {algorithm} you specified did not match the calculated checksum."
    assert _error(lambda: s3.head_object(Bucket=bucket, Key="k")) == (404, "404")
