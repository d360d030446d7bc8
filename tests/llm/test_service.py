"""The settings service used by agents and the answer path (no HTTP)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from knowrithm.domains.llm import connection, service
from knowrithm.domains.llm.models import LLMSettings, Provider, ProviderModel
from knowrithm.domains.llm.seed import seed
from knowrithm.infra.db import db
from knowrithm.infra.errors import ValidationFailed
from knowrithm.infra.tenancy import company_scope


@pytest.fixture
def scope_a(app, companies):
    with app.app_context(), company_scope(companies[0].company_id):
        yield companies[0]
        db.session.rollback()
        db.session.remove()


def _platform_counts():
    providers = db.session.execute(select(func.count()).select_from(Provider)
                                   .where(Provider.company_id.is_(None))).scalar()
    models = db.session.execute(select(func.count()).select_from(ProviderModel)
                                .where(ProviderModel.company_id.is_(None))).scalar()
    return providers, models


def test_seed_is_idempotent_and_covers_the_catalog(app):
    with app.app_context():
        seed()
        first = _platform_counts()
        again = seed()
        assert _platform_counts() == first
        assert again["providers_created"] == 0 and again["models_created"] == 0
        names = {p.value for p in db.session.execute(select(Provider)).scalars()}
        assert {"openai", "gemini", "anthropic", "ollama", "vllm", "lmstudio", "knowrithm"} <= names
        local = db.session.execute(select(Provider).where(Provider.value == "knowrithm")).scalar_one()
        assert local.requires_api_key is False
        dims = {m.name: m.embedding_dimension for m in local.models}
        assert dims["all-MiniLM-L6-v2"] == 384
        db.session.remove()


def test_resolve_by_name_is_case_insensitive_and_by_id(scope_a):
    provider, model = service.resolve_provider_model(provider="OPENAI", model="GPT-4o-Mini", model_type="llm")
    assert (provider.value, model.name) == ("openai", "gpt-4o-mini")
    again = service.resolve_provider_model(provider=str(provider.id), model=str(model.id), model_type="llm")
    assert again == (provider, model)
    by_label = service.resolve_provider_model(provider="google gemini", model="text-embedding-004",
                                              model_type="embedding")
    assert by_label[1].embedding_dimension == 768


def test_resolve_rejects_unknown_names_and_wrong_types(scope_a):
    with pytest.raises(ValidationFailed) as err:
        service.resolve_provider_model(provider="nope", model="x", model_type="llm")
    assert "openai" in err.value.message and "anthropic" in err.value.message
    with pytest.raises(ValidationFailed) as err:
        service.resolve_provider_model(provider="openai", model="gpt-9", model_type="llm")
    assert "gpt-4o-mini" in err.value.message
    with pytest.raises(ValidationFailed) as err:
        service.resolve_provider_model(provider="openai", model="text-embedding-3-small", model_type="llm")
    assert err.value.code == "WRONG_MODEL_TYPE" and "gpt-4o" in err.value.message
    with pytest.raises(ValidationFailed) as err:
        service.resolve_provider_model(provider="anthropic", model="claude-haiku-4-5", model_type="embedding")
    assert err.value.code == "WRONG_MODEL_TYPE"


def test_default_settings_is_offline_and_created_once(scope_a):
    first = service.default_settings(scope_a.company_id)
    second = service.default_settings(scope_a.company_id)
    assert first.id == second.id and first.is_default
    assert (first.llm_provider.value, first.llm_model.name) == ("knowrithm", "extractive")
    assert first.embedding_dimension == 384
    chat, embedder = service.runtime_for_settings(first)
    assert chat[0][0] == "extractive"
    assert embedder.model_key == service.embedding_model_key(first)


def test_create_settings_encrypts_keys_and_resolves_fallbacks(scope_a):
    row = service.create_settings(company_id=scope_a.company_id, llm_provider="openai", llm_model="gpt-4o-mini",
                                  llm_api_key="sk-test-secret-1234", embedding_provider="knowrithm",
                                  embedding_model="all-MiniLM-L6-v2",
                                  fallback_models=[{"provider": "ollama", "model": "llama3.1"}, "gpt-4o"])
    assert row.llm_api_key_encrypted and "sk-test" not in row.llm_api_key_encrypted
    assert row.is_default  # the company had none
    out = service.settings_out(row)
    assert "llm_api_key" not in out and out["llm_api_key_set"] is True
    assert "sk-test-secret" not in str(out)
    assert [f["model"] for f in out["fallback_models"]] == ["llama3.1", "gpt-4o"]
    chat, _ = service.runtime_for_settings(row)
    assert [label for label, _ in chat] == ["gpt-4o-mini", "llama3.1", "gpt-4o"]
    assert chat[0][1].config.api_key == "sk-test-secret-1234"
    assert chat[1][1].config.base_url == "http://127.0.0.1:11434/v1"
    assert chat[2][1].config.api_key == "sk-test-secret-1234"  # same vendor: same key


def test_create_settings_requires_vendor_keys(scope_a):
    with pytest.raises(ValidationFailed) as err:
        service.create_settings(company_id=scope_a.company_id, llm_provider="anthropic",
                                llm_model="claude-haiku-4-5", embedding_provider="knowrithm",
                                embedding_model="all-MiniLM-L6-v2")
    assert err.value.code == "MISSING_API_KEY" and "llm_api_key" in err.value.details
    with pytest.raises(ValidationFailed) as err:
        service.create_settings(company_id=scope_a.company_id, llm_provider="vllm", llm_model="x",
                                embedding_provider="knowrithm", embedding_model="all-MiniLM-L6-v2")
    assert db.session.execute(select(LLMSettings)).first() is None


def test_connection_test_reports_an_unreachable_server(scope_a):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    row = service.create_settings(company_id=scope_a.company_id, llm_provider="ollama", llm_model="llama3.1",
                                  llm_api_base_url=f"http://127.0.0.1:{port}/v1", embedding_provider="knowrithm",
                                  embedding_model="all-MiniLM-L6-v2")
    report = connection.test_settings(row)
    assert report["status"] == "failed" and report["llm"]["status"] == "failed"
    assert report["llm"]["error_code"] == "LLM_UNREACHABLE" and report["llm"]["error"] in report["message"]
    assert report["embedding"]["status"] == "success" and report["embedding"]["dimension"] == 384


def test_update_keeps_or_drops_keys_by_vendor(scope_a):
    row = service.create_settings(company_id=scope_a.company_id, llm_provider="openai", llm_model="gpt-4o-mini",
                                  llm_api_key="sk-one-123456789", embedding_provider="knowrithm",
                                  embedding_model="all-MiniLM-L6-v2")
    row, changed = service.update_settings(row, llm_model="gpt-4.1")  # same vendor: key kept
    assert row.llm_model.name == "gpt-4.1" and row.llm_api_key_encrypted and not changed
    with pytest.raises(ValidationFailed) as err:  # another paid vendor needs its own key
        service.update_settings(row, llm_provider="anthropic", llm_model="claude-sonnet-4-5")
    assert err.value.code == "MISSING_API_KEY"
    db.session.rollback()
