"""The storage interface: local folder, and S3 against a local moto server (loopback only)."""
from __future__ import annotations

import io

import pytest

from knowrithm.integrations.storage import FileTooLarge, StorageError
from knowrithm.integrations.storage.base import LocalStorage


def _exercise(storage):
    stored = storage.save("c1/a1/d1/file.txt", io.BytesIO(b"hello storage"), max_bytes=100)
    assert stored.size == 13 and len(stored.sha256) == 64
    assert storage.exists("c1/a1/d1/file.txt") and storage.read("c1/a1/d1/file.txt") == b"hello storage"
    with pytest.raises(FileTooLarge):
        storage.save("c1/a1/d1/big.txt", io.BytesIO(b"x" * 1000), max_bytes=100)
    assert not storage.exists("c1/a1/d1/big.txt")  # a refused upload leaves nothing behind
    storage.delete("c1/a1/d1/file.txt")
    assert not storage.exists("c1/a1/d1/file.txt")
    with pytest.raises(StorageError):
        storage.save("../escape.txt", io.BytesIO(b"x"))


def test_local_storage(tmp_path):
    storage = LocalStorage(tmp_path)
    _exercise(storage)
    assert storage.test_connection()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.fixture
def moto_s3():
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_s3_storage_against_moto(moto_s3):
    import boto3

    from knowrithm.integrations.storage.base import S3Storage

    boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket="knowledge")
    storage = S3Storage(bucket="knowledge", endpoint_url=moto_s3, access_key_id="test", secret_access_key="test",
                        prefix="uploads")
    assert storage.test_connection()
    _exercise(storage)


def test_uploads_go_to_s3_when_configured(app, moto_s3, monkeypatch, celery_worker, sdk_a, agent_a, upload_and_wait):
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")
    s3.create_bucket(Bucket="kb-uploads")
    settings = app.config["SETTINGS"]
    for name, value in (("STORAGE_BACKEND", "s3"), ("S3_BUCKET", "kb-uploads"), ("S3_ENDPOINT_URL", moto_s3),
                        ("S3_ACCESS_KEY_ID", "test"), ("S3_SECRET_ACCESS_KEY", "test")):
        monkeypatch.setattr(settings, name, value)
    body, docs = upload_and_wait(sdk_a, agent_a, {"cloud.txt": b"Stored in the bucket, read back by the worker."})
    assert next(iter(docs.values()))["status"] == "processed"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="kb-uploads")["Contents"]]
    assert len(keys) == 1 and keys[0].endswith("/cloud.txt")
    assert sdk_a.analytics.search_documents("bucket worker", agent_a)["results"]
