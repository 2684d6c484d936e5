"""Read-only stores: gs:// through pyarrow's GcsFileSystem, hf:// through huggingface_hub.

Both give seekable files whose reads are range requests, so Parquet row groups and
byte-range rank slices read only their part. Credentials: GCS application-default
credentials (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`,
the metadata server); the Hub's HF_TOKEN or the token `huggingface-cli login` saved.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import IO, Any, cast

from ..errors import EnvironmentProblem, InputError, Specter2Error
from .store import ObjectInfo, ObjectStore

GCS_CREDS = (
    "set GOOGLE_APPLICATION_CREDENTIALS to a service account key, or run `gcloud auth "
    "application-default login`; for a public bucket add --anonymous (or SPECTER2_EMBED_ANONYMOUS=1)"
)


class GcsStore(ObjectStore):
    scheme = "gs"
    retry_seconds = 60.0  # transient errors are retried (with backoff) for this long

    def __init__(self, bucket: str, anonymous: bool = False, fs: Any = None) -> None:
        super().__init__(bucket)
        self.anonymous = anonymous
        if fs is None:
            import pyarrow.fs as pafs

            fs = pafs.GcsFileSystem(
                anonymous=anonymous, retry_time_limit=timedelta(seconds=self.retry_seconds)
            )
        self.fs = fs

    def error(self, e: BaseException, key: str) -> Specter2Error:
        text = str(e)
        low = text.lower()
        url = self.url(key)
        if isinstance(e, FileNotFoundError) or "not found" in low or "notfound" in low:
            if "bucket" in low:
                return EnvironmentProblem(f"{url}: the bucket '{self.bucket}' does not exist")
            return InputError(f"{url}: no such object")
        if "permission" in low or "403" in low or "401" in low or "unauthorized" in low:
            return EnvironmentProblem(f"{url}: access denied ({text}); {GCS_CREDS}")
        if "credential" in low:
            return EnvironmentProblem(f"{url}: no usable Google credentials ({text}); {GCS_CREDS}")
        return EnvironmentProblem(
            f"{url}: cannot read ({text}); check the network and the credentials, then rerun"
        )

    def _path(self, key: str) -> str:
        return f"{self.bucket}/{key}".rstrip("/")

    def info(self, key: str) -> ObjectInfo | None:
        import pyarrow.fs as pafs

        try:
            fi = self.fs.get_file_info(self._path(key))
        except OSError as e:
            raise self.error(e, key) from e
        if fi.type != pafs.FileType.File:
            return None
        return ObjectInfo(key, int(fi.size), str(fi.mtime_ns or ""), int(fi.mtime_ns or 0))

    def iter_objects(self, prefix: str, recursive: bool = True) -> Iterator[ObjectInfo]:
        import pyarrow.fs as pafs

        folder = prefix if prefix.endswith("/") or not prefix else prefix.rsplit("/", 1)[0]
        folder = folder if "/" in prefix else ""
        try:
            infos = self.fs.get_file_info(
                pafs.FileSelector(self._path(folder), recursive=True, allow_not_found=True)
            )
        except OSError as e:
            raise self.error(e, prefix) from e
        root = self.bucket + "/"
        out = []
        for fi in infos:
            if fi.type != pafs.FileType.File:
                continue
            key = fi.path[len(root) :] if fi.path.startswith(root) else fi.path
            if key.startswith(prefix) and (recursive or "/" not in key[len(prefix) :]):
                out.append(ObjectInfo(key, int(fi.size), str(fi.mtime_ns), int(fi.mtime_ns or 0)))
        yield from sorted(out, key=lambda o: o.key)

    def open_read(self, key: str, info: ObjectInfo | None = None, head: bytes = b"") -> IO[bytes]:
        try:
            return cast(IO[bytes], self.fs.open_input_file(self._path(key)))
        except OSError as e:
            raise self.error(e, key) from e


class HfStore(ObjectStore):
    """`bucket` is the repository as HfFileSystem names it: `datasets/owner/name[@rev]`."""

    scheme = "hf"

    def __init__(self, bucket: str, anonymous: bool = False, fs: Any = None) -> None:
        super().__init__(bucket)
        self.anonymous = anonymous
        self._fs = fs

    @property
    def fs(self) -> Any:
        if self._fs is None:
            if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
                raise EnvironmentProblem(
                    f"hf://{self.bucket}: HF_HUB_OFFLINE is set (or --offline given), so the "
                    "Hub cannot be read; unset it, or download the files and name local paths"
                )
            from huggingface_hub import HfFileSystem

            self._fs = HfFileSystem(token=False if self.anonymous else None)
        return self._fs

    def error(self, e: BaseException, key: str) -> Specter2Error:
        name = type(e).__name__
        url = self.url(key)
        if name == "GatedRepoError" or "401" in str(e) or "403" in str(e):
            return EnvironmentProblem(
                f"{url}: the repository needs a token with access ({name}); set HF_TOKEN or run "
                "`huggingface-cli login` (and accept the dataset's terms on its page)"
            )
        if name in ("RepositoryNotFoundError", "RevisionNotFoundError"):
            return EnvironmentProblem(
                f"{url}: no such repository or revision on the Hub ({name}); check the name "
                "(hf://datasets/OWNER/NAME/...), or set HF_TOKEN for a private one"
            )
        if isinstance(e, FileNotFoundError) or name == "EntryNotFoundError":
            return InputError(f"{url}: no such file in the repository")
        return EnvironmentProblem(f"{url}: cannot read from the Hub ({name}: {e}); rerun later")

    def _path(self, key: str) -> str:
        return f"{self.bucket}/{key}".rstrip("/")

    def info(self, key: str) -> ObjectInfo | None:
        try:
            d = self.fs.info(self._path(key))
        except FileNotFoundError:
            return None
        except Specter2Error:
            raise
        except Exception as e:
            raise self.error(e, key) from e
        if d.get("type") != "file":
            return None
        version = str(d.get("blob_id") or (d.get("lfs") or {}).get("sha256") or "")
        return ObjectInfo(key, int(d.get("size") or 0), version, 0)

    def iter_objects(self, prefix: str, recursive: bool = True) -> Iterator[ObjectInfo]:
        folder = prefix if prefix.endswith("/") or "/" not in prefix else prefix.rsplit("/", 1)[0]
        if not prefix.endswith("/") and "/" not in prefix:
            folder = ""
        try:
            found = self.fs.find(self._path(folder), detail=True)
        except FileNotFoundError:
            return
        except Specter2Error:
            raise
        except Exception as e:
            raise self.error(e, prefix) from e
        root = self.bucket + "/"
        out = []
        for path, d in found.items():
            key = path[len(root) :] if path.startswith(root) else path
            below = key[len(prefix) :]
            if (
                d.get("type") == "file"
                and key.startswith(prefix)
                and (recursive or "/" not in below)
            ):
                version = str(d.get("blob_id") or "")
                out.append(ObjectInfo(key, int(d.get("size") or 0), version, 0))
        yield from sorted(out, key=lambda o: o.key)

    def open_read(self, key: str, info: ObjectInfo | None = None, head: bytes = b"") -> IO[bytes]:
        try:
            return cast(IO[bytes], self.fs.open(self._path(key), "rb", block_size=8 << 20))
        except Specter2Error:
            raise
        except Exception as e:
            raise self.error(e, key) from e
