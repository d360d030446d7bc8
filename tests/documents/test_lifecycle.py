"""J2-J12 through `knowrithm-py`: lists, soft delete/restore of documents and chunks, bulk delete,
and company isolation on every route."""
from __future__ import annotations

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError


@pytest.fixture
def two_docs(celery_worker, sdk_a, agent_a, upload_and_wait):
    body, docs = upload_and_wait(sdk_a, agent_a, {
        "alpha.md": b"# Alpha\n\nThe alpha reactor runs on thorium salts.\n\n## Safety\n\nCoolant checks are weekly.",
        "beta.txt": b"Beta team meets on Tuesdays in room nine.",
    })
    return {d["original_filename"]: d for d in docs.values()}


def _search_ids(sdk, agent_id, query):
    return [r["chunk_id"] for r in sdk.analytics.search_documents(query, agent_id)["results"]]


def _chunk_ids(app, document_id):
    from sqlalchemy import select

    from knowrithm.domains.documents.models import DocumentChunk
    from knowrithm.infra.db import db

    with app.app_context():
        ids = [str(i) for i in db.session.execute(select(DocumentChunk.id).where(
            DocumentChunk.document_id == document_id).order_by(DocumentChunk.chunk_index)).scalars()]
        db.session.remove()
        return ids


def test_list_documents_with_filters_and_both_keys(sdk_a, agent_a, two_docs, agent_factory, companies):
    body = sdk_a.documents.list_documents(page=1, per_page=1)
    assert len(body["document"]) == 1 and body["documents"] == body["document"]
    assert body["pagination"] == {"page": 1, "per_page": 1, "total": 2, "pages": 2, "has_next": True,
                                  "has_prev": False}
    assert {d["original_filename"] for d in sdk_a.documents.list_documents(status="processed")["documents"]} == \
        {"alpha.md", "beta.txt"}
    assert sdk_a.documents.list_documents(status="failed")["documents"] == []
    doc = sdk_a.documents.list_documents()["documents"][0]
    for key in ("id", "agent_id", "original_filename", "filename", "title", "document_type", "type", "file_size",
                "page_count", "word_count", "status", "processing_error", "chunks", "created_at", "deleted_at"):
        assert key in doc


def test_list_filters_by_search_type_and_agent(http, app, companies, sdk_a, agent_a, two_docs, agent_factory):
    from tests.conftest import make_api_key

    key, secret = make_api_key(app, companies[0])
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    assert [d["original_filename"] for d in http.get("/api/v1/document?search=alph", headers=headers)
            .json()["documents"]] == ["alpha.md"]
    assert [d["original_filename"] for d in http.get("/api/v1/document?document_type=txt", headers=headers)
            .json()["documents"]] == ["beta.txt"]
    other_agent = agent_factory(companies[0], "Other")
    assert http.get(f"/api/v1/document/agent/{other_agent}", headers=headers).json()["documents"] == []
    per_agent = http.get(f"/api/v1/document/agent/{agent_a}?document_type=markdown", headers=headers).json()
    assert [d["original_filename"] for d in per_agent["document"]] == ["alpha.md"]
    assert http.get("/api/v1/document?per_page=1000", headers=headers).status_code == 400


def test_delete_and_restore_document(app, sdk_a, agent_a, two_docs):
    alpha = two_docs["alpha.md"]
    assert _search_ids(sdk_a, agent_a, "thorium reactor")
    body = sdk_a.documents.delete_document(alpha["id"])
    assert body["document_id"] == alpha["id"] and body["deleted_chunks_count"] == alpha["chunks"]
    assert alpha["id"] not in {d["id"] for d in sdk_a.documents.list_documents()["documents"]}
    deleted = sdk_a.documents.list_deleted_documents()
    assert [d["id"] for d in deleted["deleted_documents"]] == [alpha["id"]] == [d["id"] for d in deleted["documents"]]
    assert deleted["documents"][0]["deleted_at"]
    assert not any(r in _chunk_ids(app, alpha["id"]) for r in _search_ids(sdk_a, agent_a, "thorium reactor"))
    assert len(sdk_a.documents.list_deleted_chunks()["deleted_chunks"]) == alpha["chunks"]
    restored = sdk_a.documents.restore_document(alpha["id"])
    assert restored["document_id"] == alpha["id"] and restored["filename"] == "alpha.md"
    assert _search_ids(sdk_a, agent_a, "thorium reactor")[0] in _chunk_ids(app, alpha["id"])
    assert sdk_a.documents.list_deleted_documents()["deleted_documents"] == []
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.documents.restore_document(alpha["id"])
    assert err.value.status_code == 409


def test_chunk_delete_and_restore_leave_and_rejoin_search_at_once(app, sdk_a, agent_a, two_docs):
    beta = two_docs["beta.txt"]
    chunk_id = _chunk_ids(app, beta["id"])[0]
    assert _search_ids(sdk_a, agent_a, "Tuesdays room nine")[0] == chunk_id
    body = sdk_a.documents.delete_document_chunk(chunk_id)
    assert body == {**body, "chunk_id": chunk_id, "chunk_index": 0}
    assert chunk_id not in _search_ids(sdk_a, agent_a, "Tuesdays room nine")
    assert [c["id"] for c in sdk_a.documents.list_deleted_chunks()["deleted_chunks"]] == [chunk_id]
    assert sdk_a.documents.restore_document_chunk(chunk_id)["chunk_index"] == 0
    assert _search_ids(sdk_a, agent_a, "Tuesdays room nine")[0] == chunk_id


def test_delete_and_restore_all_chunks_of_a_document(app, sdk_a, agent_a, two_docs):
    alpha = two_docs["alpha.md"]
    body = sdk_a.documents.delete_document_chunks(alpha["id"])
    assert body["document_id"] == alpha["id"] and body["deleted_chunks_count"] == alpha["chunks"] >= 1
    assert not set(_search_ids(sdk_a, agent_a, "thorium coolant")) & set(_chunk_ids(app, alpha["id"]))
    body = sdk_a.documents.restore_all_document_chunks(alpha["id"])
    assert body["restored_chunks_count"] == alpha["chunks"]
    assert set(_search_ids(sdk_a, agent_a, "thorium coolant")) & set(_chunk_ids(app, alpha["id"]))


def test_restoring_a_document_keeps_individually_deleted_chunks_deleted(app, sdk_a, agent_a, two_docs):
    alpha = two_docs["alpha.md"]
    first, *rest = _chunk_ids(app, alpha["id"])
    sdk_a.documents.delete_document_chunk(first)
    assert sdk_a.documents.delete_document(alpha["id"])["deleted_chunks_count"] == len(rest)
    sdk_a.documents.restore_document(alpha["id"])
    assert [c["id"] for c in sdk_a.documents.list_deleted_chunks()["deleted_chunks"]] == [first]
    with pytest.raises(KnowrithmAPIError) as err:  # its document is deleted: the chunk stays hidden
        sdk_a.documents.delete_document(alpha["id"])
        sdk_a.documents.restore_document_chunk(first)
    assert err.value.status_code == 404


def test_bulk_delete(sdk_a, agent_a, two_docs):
    ids = [d["id"] for d in two_docs.values()]
    body = sdk_a.documents.bulk_delete_documents(ids)
    assert body["deleted_documents_count"] == 2
    assert body["deleted_chunks_count"] == sum(d["chunks"] for d in two_docs.values())
    assert sdk_a.documents.list_documents()["documents"] == []
    assert sdk_a.analytics.search_documents("thorium", agent_a)["results"] == []


def test_bulk_delete_bad_input_is_400(http, app, companies):
    from tests.conftest import make_api_key

    key, secret = make_api_key(app, companies[0])
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    for payload in ({}, {"document_ids": []}, {"document_ids": ["not-a-uuid"]}):
        resp = http.delete("/api/v1/document/bulk-delete", headers=headers, json=payload)
        assert resp.status_code == 400 and resp.json()["success"] is False


def test_other_company_cannot_see_or_change_documents(app, sdk_a, sdk_b, agent_a, two_docs):
    alpha = two_docs["alpha.md"]
    chunk_id = _chunk_ids(app, alpha["id"])[0]
    b_list = sdk_b.documents.list_documents()
    assert b_list["documents"] == [] and b_list["pagination"]["total"] == 0
    calls = [
        lambda: sdk_b.documents.delete_document(alpha["id"]),
        lambda: sdk_b.documents.restore_document(alpha["id"]),
        lambda: sdk_b.documents.delete_document_chunk(chunk_id),
        lambda: sdk_b.documents.restore_document_chunk(chunk_id),
        lambda: sdk_b.documents.delete_document_chunks(alpha["id"]),
        lambda: sdk_b.documents.restore_all_document_chunks(alpha["id"]),
        lambda: sdk_b.documents.bulk_delete_documents([alpha["id"]]),
    ]
    for call in calls:
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == 404
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_b._make_request("GET", f"/document/agent/{agent_a}")
    assert err.value.status_code == 404
    # A's document and chunks are untouched and B sees none of A's deleted items either.
    sdk_a.documents.delete_document_chunk(chunk_id)
    sdk_a.documents.delete_document(two_docs["beta.txt"]["id"])
    assert sdk_b.documents.list_deleted_documents()["deleted_documents"] == []
    assert sdk_b.documents.list_deleted_chunks()["deleted_chunks"] == []
    assert alpha["id"] in {d["id"] for d in sdk_a.documents.list_documents()["documents"]}


def test_read_only_key_cannot_delete(sdk_for, companies, two_docs):
    reader = sdk_for(companies[0], scopes=("read",))
    assert len(reader.documents.list_documents()["documents"]) == 2
    with pytest.raises(KnowrithmAPIError) as err:
        reader.documents.delete_document(two_docs["alpha.md"]["id"])
    assert err.value.status_code == 403


def test_unknown_ids_are_404_not_500(sdk_a):
    for call in (lambda: sdk_a.documents.delete_document("not-a-uuid"),
                 lambda: sdk_a.documents.delete_document_chunk("00000000-0000-0000-0000-000000000000")):
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == 404

