"""Which store serves a URL: S3 (boto3), GCS (pyarrow) or the Hub (huggingface_hub).

Kept apart from store.py, which the stores themselves import, so no module imports itself
back through a back-end."""

from __future__ import annotations

from ..errors import EnvironmentProblem
from .store import ObjectStore, anonymous_from_env
from .urls import ObjectURL, parse_url


def open_store(url: str | ObjectURL, *, anonymous: bool | None = None) -> ObjectStore:
    """The store that serves `url`. `anonymous` None: from SPECTER2_ANONYMOUS_READS."""
    u = parse_url(url) if isinstance(url, str) else url
    anon = anonymous_from_env() if anonymous is None else anonymous
    if u.scheme == "s3":
        try:
            import boto3  # noqa: F401
        except ImportError:
            raise EnvironmentProblem(
                f"{u}: reading s3:// needs boto3, which is not installed: "
                "pip install 'specter2-cli[cloud]' (or pip install boto3)"
            ) from None
        from .s3 import S3Store

        return S3Store(u.bucket, anonymous=anon)
    if u.scheme == "gs":
        from .others import GcsStore

        return GcsStore(u.bucket, anonymous=anon)
    from .others import HfStore

    return HfStore(u.bucket, anonymous=anon)
