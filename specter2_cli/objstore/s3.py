"""S3 and S3-compatible stores through boto3.

boto3 rather than pyarrow's S3FileSystem or s3fs: it is the one client that offers
the conditional puts the commit protocol needs (If-None-Match: * to create an
object only if absent, If-Match to replace only the version one read), reports
errors as codes rather than text, and brings the standard AWS credential chain
(AWS_* variables, profiles, SSO, instance and pod roles), AWS_ENDPOINT_URL(_S3),
and retry modes that back off on throttling (SlowDown, 503) and 5xx.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from ..errors import InputError, Specter2Error
from .failures import s3_error
from .rangefile import RangeReader, buffered
from .store import ObjectInfo, ObjectStore, PreconditionFailed

MAX_ATTEMPTS = 8  # botocore "standard" mode: exponential backoff with jitter, capped at 20 s
PART_SIZE = 64 << 20


_CLIENTS: dict[tuple[Any, ...], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def make_client(anonymous: bool) -> Any:
    """An S3 client, shared by every store opened with the same settings and environment:
    creating one reads botocore's service model (a tenth of a second or more), and a run
    opens stores many times. A changed AWS_* variable gets a new client."""
    key = (anonymous, tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))))
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = _new_client(anonymous)
        return _CLIENTS[key]


def _new_client(anonymous: bool) -> Any:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    kw: dict[str, Any] = {
        "connect_timeout": 10,
        "read_timeout": 60,
        "max_pool_connections": 32,
        "tcp_keepalive": True,
    }
    if not (os.environ.get("AWS_MAX_ATTEMPTS") or os.environ.get("AWS_RETRY_MODE")):
        kw["retries"] = {"mode": "standard", "max_attempts": MAX_ATTEMPTS}
    if not os.environ.get("AWS_REQUEST_CHECKSUM_CALCULATION"):
        # S3-compatible stores (older MinIO, Ceph) reject the newer default checksums
        kw["request_checksum_calculation"] = "when_required"
        kw["response_checksum_validation"] = "when_required"
    if anonymous:
        kw["signature_version"] = UNSIGNED
    return boto3.session.Session().client("s3", config=Config(**kw))


def _transient() -> tuple[type[BaseException], ...]:
    import botocore.exceptions as bx
    import urllib3.exceptions as ux

    return (
        bx.ResponseStreamingError,
        bx.ReadTimeoutError,
        bx.IncompleteReadError,
        bx.ConnectionClosedError,
        ux.ProtocolError,
        ux.ReadTimeoutError,
        ConnectionError,
        TimeoutError,
    )


CONFLICT_RETRIES = 6


class S3Store(ObjectStore):
    scheme = "s3"
    writable = True

    def __init__(self, bucket: str, anonymous: bool = False, client: Any = None) -> None:
        super().__init__(bucket)
        self.anonymous = anonymous
        self.client = client if client is not None else make_client(anonymous)

    @property
    def endpoint(self) -> str:
        return str(self.client.meta.endpoint_url or "")

    def error(self, e: BaseException, key: str) -> Specter2Error:
        return s3_error(e, self.url(key), self.endpoint, self.anonymous, self.for_writes)

    def _call(self, key: str, op: str, **kw: Any) -> Any:
        import botocore.exceptions as bx

        try:
            return getattr(self.client, op)(Bucket=self.bucket, **kw)
        except bx.ClientError as e:
            if e.response.get("Error", {}).get("Code") == "PreconditionFailed":
                raise PreconditionFailed(self.url(key)) from e
            raise self.error(e, key) from e
        except bx.BotoCoreError as e:
            raise self.error(e, key) from e

    # reading -----------------------------------------------------------

    def info(self, key: str) -> ObjectInfo | None:
        try:
            r = self._call(key, "head_object", Key=key)
        except InputError:  # 404: no such object (a missing bucket is its own error)
            self.check_bucket(key)
            return None
        except Specter2Error as e:
            if _status_of(e) not in (400, 403):
                raise
            # a HEAD answer has no body, so an expired token or a denied key shows as a bare
            # 400/403: one byte's GET gets the error's code, and the message that fits it
            try:
                r = self._call(key, "get_object", Key=key, Range="bytes=0-0")
            except InputError:
                return None
            r["Body"].close()
            size = int(str(r.get("ContentRange", "/0")).rsplit("/", 1)[-1] or 0)
            return ObjectInfo(key, size, str(r.get("ETag", "")), _ns(r.get("LastModified")))
        return ObjectInfo(
            key,
            int(r["ContentLength"]),
            str(r.get("ETag", "")),
            _ns(r.get("LastModified")),
            _date_ns(r),
        )

    def check_bucket(self, key: str = "") -> None:
        """head_object answers 404 for a missing bucket too: tell the two apart."""
        import botocore.exceptions as bx

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except bx.ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                e.response["Error"]["Code"] = "NoSuchBucket"
            raise self.error(e, key) from e
        except bx.BotoCoreError as e:
            raise self.error(e, key) from e

    def iter_objects(self, prefix: str, recursive: bool = True) -> Iterator[ObjectInfo]:
        import botocore.exceptions as bx

        kw = {} if recursive else {"Delimiter": "/"}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, **kw
        )
        try:
            for page in pages:
                for o in page.get("Contents", []):
                    yield ObjectInfo(
                        o["Key"], int(o["Size"]), str(o.get("ETag", "")), _ns(o["LastModified"])
                    )
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise self.error(e, prefix) from e

    def open_read(self, key: str, info: ObjectInfo | None = None, head: bytes = b"") -> IO[bytes]:
        if info is None:
            info = self.info(key)
            if info is None:
                raise InputError(f"{self.url(key)}: no such object")
        etag = info.etag

        def fetch(start: int, end: int) -> Any:
            kw: dict[str, Any] = {"Key": key, "Range": f"bytes={start}-{end - 1}"}
            if etag:
                kw["IfMatch"] = etag
            try:
                return self._call(key, "get_object", **kw)["Body"]
            except PreconditionFailed:
                raise InputError(
                    f"{self.url(key)}: the object was replaced while it was being read; "
                    "rerun (a resumed run checks that its committed input did not change)"
                ) from None

        raw = RangeReader(fetch, info.size, self.url(key), _transient(), head=head)
        return buffered(raw)

    # writing -----------------------------------------------------------

    def put_bytes(
        self, key: str, data: bytes, *, if_absent: bool = False, if_match: str | None = None
    ) -> str:
        kw: dict[str, Any] = {"Key": key, "Body": data}
        if if_absent:
            kw["IfNoneMatch"] = "*"
        if if_match is not None:
            kw["IfMatch"] = if_match
        if not (if_absent or if_match is not None):
            return str(self._call(key, "put_object", **kw).get("ETag", ""))
        # S3 answers 409 ConditionalRequestConflict when conditional writes to one key race
        # (ranks of an array creating a run record together) and asks for a retry; the retry
        # then wins, or loses with 412 (PreconditionFailed), which is the answer
        for attempt in range(CONFLICT_RETRIES):
            try:
                return str(self._call(key, "put_object", **kw).get("ETag", ""))
            except Specter2Error as e:
                code = ""
                cause = e.__cause__
                if cause is not None and hasattr(cause, "response"):
                    code = str(cause.response.get("Error", {}).get("Code", ""))
                if code != "ConditionalRequestConflict" or attempt == CONFLICT_RETRIES - 1:
                    raise
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def upload_file(self, key: str, path: str) -> str:
        """One object, multipart above 64 MiB: it appears whole when the upload completes,
        or never (a killed upload leaves only invisible parts; see abort_uploads)."""
        import botocore.exceptions as bx
        from boto3.s3.transfer import TransferConfig

        cfg = TransferConfig(
            multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=4
        )
        if os.path.getsize(path) < PART_SIZE:  # one request, and it returns the ETag
            with open(path, "rb") as fh:
                return str(self._call(key, "put_object", Key=key, Body=fh).get("ETag", ""))
        try:
            self.client.upload_file(path, self.bucket, key, Config=cfg)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise self.error(e, key) from e
        except Exception as e:  # boto3's transfer manager wraps failures in S3UploadFailedError
            cause = e.__cause__ or e.__context__
            if isinstance(cause, (bx.ClientError, bx.BotoCoreError)):
                raise self.error(cause, key) from e
            raise self.error(e, key) from e
        info = self.info(key)
        return info.etag if info else ""

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        kw: dict[str, Any] = {"Key": key}
        if if_match is not None:
            kw["IfMatch"] = if_match
        self._call(key, "delete_object", **kw)

    def abort_uploads(self, prefix: str, owns: Callable[[str], bool]) -> int:
        n = 0
        kw: dict[str, Any] = {"Prefix": prefix}
        while True:  # a page holds at most 1,000 uploads
            r = self._call(prefix, "list_multipart_uploads", **kw)
            for u in r.get("Uploads", []):
                if not owns(u["Key"]):
                    continue
                self._call(u["Key"], "abort_multipart_upload", Key=u["Key"], UploadId=u["UploadId"])
                n += 1
            if not r.get("IsTruncated"):
                return n
            kw["KeyMarker"] = r.get("NextKeyMarker", "")
            kw["UploadIdMarker"] = r.get("NextUploadIdMarker", "")


def _status_of(e: BaseException) -> int | None:
    cause = e.__cause__
    response = getattr(cause, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _date_ns(r: Any) -> int:
    """The response's Date header (the store's clock), in ns; 0 when it has none."""
    from email.utils import parsedate_to_datetime

    date = r.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return int(parsedate_to_datetime(date).timestamp() * 1e9) if date else 0
    except (TypeError, ValueError):
        return 0


def _ns(t: Any) -> int:
    return int(t.timestamp() * 1e9) if t is not None else 0
