"""Object store URLs: s3://bucket/key, gs://bucket/key, hf://datasets/owner/name[@rev]/path."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UsageError

SCHEMES = ("s3", "gs", "hf")
ALIASES = {"s3a": "s3", "gcs": "gs"}
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)
# S3 and GCS bucket names: 3-63 (GCS: up to 222 with dots) lowercase letters, digits, . - _
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$")
_HF_KINDS = ("datasets", "spaces", "models")


@dataclass(frozen=True)
class ObjectURL:
    """`bucket` is the S3/GCS bucket, or the Hub repo (`datasets/owner/name@rev`) for hf://."""

    scheme: str
    bucket: str
    key: str  # "" for the bucket's (or repo's) root; a trailing "/" marks a prefix

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}"

    def join(self, name: str) -> ObjectURL:
        base = self.key if not self.key or self.key.endswith("/") else self.key + "/"
        return ObjectURL(self.scheme, self.bucket, base + name.lstrip("/"))

    @property
    def prefix(self) -> str:
        """The key as a folder prefix ("" or ending in "/")."""
        return self.key if not self.key or self.key.endswith("/") else self.key + "/"


def inside(target: str, outdir: str) -> bool:
    """Whether the URL `target` names an object under the OUTDIR URL `outdir` (by bucket and
    key, so s3a:// and a missing trailing slash compare as what they mean)."""
    if not (is_url(target) and is_url(outdir)):
        return False
    t, o = parse_url(target), parse_url(outdir)
    return (t.scheme, t.bucket) == (o.scheme, o.bucket) and t.key.startswith(o.prefix)


_MANGLED = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/(?!/)")


def looks_like_url(path: str) -> str | None:
    """The URL a path was meant to be, or None: also "s3:/bucket/key", which is what
    pathlib makes of "s3://bucket/key" (so a Path-typed option still shows it). A one-letter
    scheme is a Windows drive (C:/), not a URL."""
    if is_url(path):
        return path
    if _MANGLED.match(path):
        return path.replace(":/", "://", 1)
    return None


def is_url(text: str) -> bool:
    """Whether `text` names an object (any scheme://), not a local path."""
    return bool(_URL.match(text))


def parse_url(text: str) -> ObjectURL:
    """An ObjectURL, or a UsageError that says which URLs the tool reads."""
    m = _URL.match(text)
    if not m:
        raise UsageError(f"{text}: not a URL (expected s3://, gs:// or hf://)")
    scheme = ALIASES.get(m.group(1).lower(), m.group(1).lower())
    rest = m.group(2)
    if scheme not in SCHEMES:
        raise UsageError(
            f"{text}: {m.group(1)}:// is not supported; use s3:// (also for S3-compatible "
            "stores, with AWS_ENDPOINT_URL), gs://, hf://, or a local path"
        )
    if scheme == "hf":
        return _parse_hf(text, rest)
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise UsageError(
            f"{text}: '{bucket}' is not a valid bucket name (3-63 lowercase letters, digits, "
            "dots and hyphens)"
        )
    if "//" in key or key.startswith("/"):
        raise UsageError(f"{text}: empty path segment ('//') in the key")
    return ObjectURL(scheme, bucket, key)


def _parse_hf(text: str, rest: str) -> ObjectURL:
    parts = rest.split("/")
    n = 3 if parts[0] in _HF_KINDS else 2
    if len(parts) < n or not all(parts[:n]):
        raise UsageError(
            f"{text}: an hf:// URL names a repository and a path in it, e.g. "
            "hf://datasets/OWNER/NAME/data/ (hf://datasets/OWNER/NAME@REVISION/... pins a revision)"
        )
    repo = "/".join(parts[:n])
    if parts[0] == "models":
        repo = "/".join(parts[1:n])  # HfFileSystem names model repos without a prefix
    return ObjectURL("hf", repo, "/".join(parts[n:]))
