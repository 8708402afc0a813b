"""Durable objects: the reposter's dedup snapshots. S3 in a cluster (boto3, imported only here and
only when an object is touched: a run that needs none pays nothing for it)."""

from __future__ import annotations

import asyncio
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
