"""The object store contract, held by both implementations: S3 (moto server) and the local folder
the embedded runtime uses. Each contract test runs once against each."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from skybots.stores.objects import FolderObjects, ObjectStore, ObjectStoreError, S3Objects
from tests.support.aws import CLOUD_OR_EMBEDDED, REGION, reopener

Opener = Callable[[], ObjectStore]


@pytest.fixture(params=CLOUD_OR_EMBEDDED)
def open_objects(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    return reopener(request, lambda: FolderObjects(tmp_path / "objects"), s3_objects)


def s3_objects(aws: str) -> Opener:
    boto3.client("s3", region_name=REGION, endpoint_url=aws).create_bucket(
        Bucket="dedup", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return lambda: S3Objects("dedup", region=REGION, endpoint_url=aws)


async def test_a_missing_object_is_none(open_objects: Opener) -> None:
    objects = open_objects()
    assert await objects.get("dedup/did:plc:abc.json") is None
    await objects.put("dedup/did:plc:abc.json", b"{}")
    assert await objects.get("dedup") is None  # a prefix of keys is no object


async def test_put_replaces_and_outlives_the_store(open_objects: Opener) -> None:
    objects = open_objects()
    await objects.put("dedup/did:plc:abc.json", b'{"reposted":{}}')
    await objects.put("dedup/did:plc:abc.json", b'{"reposted":{"at://x":1}}')
    await objects.put("other.json", b"\x00binary")
    reopened = open_objects()
    assert await reopened.get("dedup/did:plc:abc.json") == b'{"reposted":{"at://x":1}}'
    assert await reopened.get("other.json") == b"\x00binary"


async def test_an_unusable_store_is_an_object_store_error(tmp_path: Path, aws: str) -> None:
    unreachable = S3Objects("dedup", region=REGION, endpoint_url="http://127.0.0.1:9", timeout=1)
    (tmp_path / "file").write_bytes(b"")
    blocked = FolderObjects(tmp_path / "file")  # its root is a file: nothing can go under it
    for objects in (unreachable, blocked):
        with pytest.raises(ObjectStoreError):
            await objects.put("key.json", b"{}")
    with pytest.raises(ObjectStoreError):
        await unreachable.get("key.json")


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def test_folder_keys_stay_inside_the_folder(tmp_path: Path) -> None:
    objects = FolderObjects(tmp_path / "objects")
    for key in ("../outside.json", "/etc/passwd", "a/../../b", "", "a//b", "a/./b"):
        with pytest.raises(ObjectStoreError):
            await objects.put(key, b"{}")
        with pytest.raises(ObjectStoreError):
            await objects.get(key)
    assert names(tmp_path) == []


async def test_folder_writes_leave_no_temporary_file(tmp_path: Path) -> None:
    objects = FolderObjects(tmp_path)
    for n in range(3):
        await objects.put("dedup/snapshot.json", str(n).encode())
    assert names(tmp_path / "dedup") == ["snapshot.json"]
    assert await FolderObjects(tmp_path / "dedup").get("snapshot.json") == b"2"


def test_the_folder_store_does_not_import_boto3(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from skybots.stores.objects import FolderObjects\n"
        f"objects = FolderObjects({str(tmp_path)!r})\n"
        "asyncio.run(objects.put('k', b'v'))\n"
        "assert asyncio.run(objects.get('k')) == b'v'\n"
        "assert not {'boto3', 'botocore'} & set(sys.modules), sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
