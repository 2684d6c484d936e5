"""Object storage: s3://, gs:// and hf:// inputs, and OUTDIRs on S3 without rename.

urls.py      parse a URL into (scheme, bucket, key); tell URLs from local paths
s3.py        S3 (and S3-compatible stores) through boto3: streaming and range reads,
             conditional puts (If-None-Match / If-Match), retries with backoff
others.py    gs:// (pyarrow's GcsFileSystem) and hf:// (huggingface_hub's HfFileSystem), read-only
rangefile.py a seekable, buffered file over ranged GETs that reopens after a dropped connection
failures.py  store errors as exit-4 messages that name the URL and the fix
commit.py    the OUTDIR commit protocol for stores without an atomic rename
"""

from __future__ import annotations

from .opening import open_store
from .store import ObjectInfo, ObjectStore, anonymous_from_env
from .urls import ObjectURL, is_url, parse_url

__all__ = [
    "ObjectInfo",
    "ObjectStore",
    "ObjectURL",
    "anonymous_from_env",
    "is_url",
    "open_store",
    "parse_url",
]
