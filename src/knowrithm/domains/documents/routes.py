"""Document and chunk routes."""
from __future__ import annotations

from flask import request

from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import READ, WRITE, acting_company_id, current_principal
from knowrithm.infra.ratelimit import rate_limit

from . import service
from .schemas import (BulkDeleteBody, BulkDeletedOut, ChunkChangedOut, DeletedChunksOut, DeletedDocumentsOut,
                      DocumentChunksOut, DocumentDeletedOut, DocumentListOut, DocumentListQuery, DocumentRestoredOut,
                      PageQuery, UploadBody, UploadOut, bulk_deleted_out, chunk_changed_out, deleted_chunks_out,
                      deleted_documents_out, document_chunks_out, document_deleted_out, document_list_out,
                      document_restored_out)
from .upload import upload_documents

bp = ApiBlueprint("documents", __name__, tag="documents")

_UPLOAD_FIELDS = {"agent_id", "url", "urls", "files", "file", "company_id"}


@bp.post("/document/upload", auth=WRITE, audit="document.uploaded", body=UploadBody, multipart=True,
         response=UploadOut, also=(207,),
         summary="Upload files and/or URLs for an agent (200, or 207 when some fail)")
@rate_limit("20/minute", scope="document_upload", per="company")
def upload(body: UploadBody):
    principal = current_principal(optional=False)
    files = request.files.getlist("files") + request.files.getlist("file") + request.files.getlist("files[]")
    urls = list(body.urls) + ([body.url] if body.url else [])
    metadata = {k: v for k, v in (body.model_extra or {}).items() if k not in _UPLOAD_FIELDS}
    return upload_documents(company_id=acting_company_id(), user_id=principal.user_id, agent_id=body.agent_id,
                            files=files, urls=urls, metadata=metadata)


@bp.get("/document", auth=READ, query=DocumentListQuery, response=DocumentListOut,
        summary="List the company's documents")
def list_documents(query: DocumentListQuery):
    return document_list_out(*service.list_documents(**query.model_dump()))


@bp.get("/document/agent/<agent_id>", auth=READ, query=DocumentListQuery, response=DocumentListOut,
        summary="List an agent's documents")
def list_agent_documents(agent_id: str, query: DocumentListQuery):
    listing = service.list_agent_documents(agent_id=agent_id, page=query.page, per_page=query.per_page,
                                           document_type=query.document_type, status=query.status)
    return document_list_out(*listing, agent_id=str(agent_id))


@bp.get("/document/deleted", auth=READ, query=PageQuery, response=DeletedDocumentsOut,
        summary="List soft-deleted documents")
def list_deleted_documents(query: PageQuery):
    return deleted_documents_out(*service.list_deleted_documents(page=query.page, per_page=query.per_page))


@bp.get("/document/chunk/deleted", auth=READ, query=PageQuery, response=DeletedChunksOut,
        summary="List soft-deleted chunks")
def list_deleted_chunks(query: PageQuery):
    return deleted_chunks_out(*service.list_deleted_chunks(page=query.page, per_page=query.per_page))


@bp.delete("/document/bulk-delete", auth=WRITE, audit="document.bulk_deleted", body=BulkDeleteBody,
           response=BulkDeletedOut, summary="Soft-delete several documents")
def bulk_delete(body: BulkDeleteBody):
    return bulk_deleted_out(*service.bulk_delete_documents(body.document_ids,
                                                           user_id=current_principal(optional=False).user_id))


@bp.delete("/document/chunk/<chunk_id>", auth=WRITE, response=ChunkChangedOut, summary="Soft-delete one chunk")
def delete_chunk(chunk_id: str):
    return chunk_changed_out(service.delete_chunk(chunk_id), "Chunk deleted")


@bp.patch("/document/chunk/<chunk_id>/restore", auth=WRITE, response=ChunkChangedOut, summary="Restore one chunk")
def restore_chunk(chunk_id: str):
    return chunk_changed_out(service.restore_chunk(chunk_id), "Chunk restored")


@bp.delete("/document/<document_id>", auth=WRITE, audit="document.deleted", response=DocumentDeletedOut,
            summary="Soft-delete a document and its chunks")
def delete_document(document_id: str):
    principal = current_principal(optional=False)
    return document_deleted_out(*service.delete_document(document_id, user_id=principal.user_id))


@bp.patch("/document/<document_id>/restore", auth=WRITE, response=DocumentRestoredOut,
          summary="Restore a document and its chunks")
def restore_document(document_id: str):
    return document_restored_out(*service.restore_document(document_id))


@bp.get("/document/<document_id>/chunk", auth=READ, audit="document.text_read", query=PageQuery,
        response=DocumentChunksOut, summary="List a document's chunks (its text)")
def list_document_chunks(document_id: str, query: PageQuery):
    return document_chunks_out(*service.list_document_chunks(document_id, page=query.page, per_page=query.per_page))


@bp.delete("/document/<document_id>/chunk", auth=WRITE, response=DocumentDeletedOut,
           summary="Soft-delete every chunk of a document")
def delete_document_chunks(document_id: str):
    return document_deleted_out(*service.delete_document_chunks(document_id), message="Chunks deleted")


@bp.patch("/document/<document_id>/chunk/restore-all", auth=WRITE, response=DocumentRestoredOut,
           summary="Restore every chunk of a document")
def restore_document_chunks(document_id: str):
    return document_restored_out(*service.restore_document_chunks(document_id), message="Chunks restored")
