"""Durable objects: the reposter's dedup snapshots. S3 in a cluster (boto3, imported only here and
only when an object is touched: a run that needs none pays nothing for it); a local folder for
the embedded runtime (`make demo`)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol


class ObjectStore(Protocol):
    async def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        ...

    async def put(self, key: str, data: bytes) -> None: ...


class ObjectStoreError(Exception):
    """The store could not be reached or refused the request."""


class S3Objects:
    """An S3 bucket (or an S3-compatible endpoint); every call runs in a thread, as boto3 blocks."""

    def __init__(
        self, bucket: str, *, region: str, endpoint_url: str | None = None, timeout: float = 5
    ) -> None:
        self.bucket, self._region, self._endpoint, self._timeout = bucket, region, endpoint_url, timeout
        self._client: Any = None

    def _s3(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=self._timeout, read_timeout=self._timeout, retries={"max_attempts": 2}
            )
            self._client = boto3.client(
                "s3", region_name=self._region, endpoint_url=self._endpoint, config=config
            )
        return self._client

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return bytes(self._s3().get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise ObjectStoreError(f"s3://{self.bucket}/{key}: {error}") from None
        except BotoCoreError as error:
            raise ObjectStoreError(f"s3://{self.bucket}/{key}: {error}") from None

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    def _put(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3().put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json")
        except (ClientError, BotoCoreError) as error:
            raise ObjectStoreError(f"s3://{self.bucket}/{key}: {error}") from None


class FolderObjects:
    """Objects as files under a folder, a key's `/` making subfolders; every call runs in a thread.

    A put writes a temporary file beside the object and renames it over the object, so a reader
    (another run, or the same one after a crash) sees the old bytes or the new, never a torn file.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise ObjectStoreError(f"{key!r}: not a key that stays inside {self.root}")
        return self.root.joinpath(*parts)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None  # as S3 answers for a key nobody wrote, or a mere prefix of keys
        except OSError as error:
            raise ObjectStoreError(f"{path}: {error}") from None

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, path)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError as error:
            raise ObjectStoreError(f"{path}: {error}") from None
