"""Providers and models through the SDK's `ProviderService`."""
from __future__ import annotations

import uuid

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError
from knowrithm_py.services.settings import ProviderService

pytestmark = pytest.mark.usefixtures("celery_worker")


@pytest.fixture
def prov_a(sdk_a):
    return ProviderService(sdk_a)


@pytest.fixture
def prov_b(sdk_b):
    return ProviderService(sdk_b)


def platform_provider(service, value):
    return next(p for p in service.list_providers()["providers"] if p["value"] == value and not p["is_custom"])


def test_provider_and_model_lifecycle(prov_a, sdk_a):
    created = prov_a.create_provider("Acme Inference", "both", description="our GPU box",
                                     api_base_url="http://127.0.0.1:9/v1", pricing={"tier": "free"})
    pid = created["id"]
    assert created["label"] == "Acme Inference" and created["value"] == "acme-inference"
    assert created["provider_type"] == "both" and created["default_base_url"] == "http://127.0.0.1:9/v1"
    assert created["is_custom"] is True and created["pricing_tier"] == "free"

    updated = prov_a.update_provider(pid, description="two GPUs", type="llm")
    assert updated["description"] == "two GPUs" and updated["provider_type"] == "llm"
    assert prov_a.get_provider(pid)["models"] == []

    model = prov_a.create_model(pid, "qwen2.5-7b", "chat", provider_model_id="Qwen/Qwen2.5-7B-Instruct",
                                context_window=32768, input_price=0, output_price=0, currency="USD")
    assert model["model_type"] == "llm" and model["context_window"] == 32768
    assert model["provider_model_id"] == "Qwen/Qwen2.5-7B-Instruct"
    changed = prov_a.update_model(pid, model["id"], context_window=65536, status="active")
    assert changed["context_window"] == 65536
    assert prov_a.get_model(pid, model["id"])["context"] == 65536
    listed = prov_a.list_models(pid)
    assert [m["id"] for m in listed["models"]] == [model["id"]] and listed["provider"]["id"] == pid
    assert listed["total"] == 1

    with_models = prov_a.list_providers(params={"type": "llm", "include_models": True})["providers"]
    mine = next(p for p in with_models if p["id"] == pid)
    assert [m["name"] for m in mine["models"]] == ["qwen2.5-7b"]
    assert all(p["provider_type"] in ("llm", "both") for p in with_models)

    # Custom models are usable in settings by name.
    settings = sdk_a.settings.create_settings_with_provider_names(
        "acme inference", "QWEN2.5-7B", "knowrithm", "all-MiniLM-L6-v2")["settings"]
    assert settings["llm_provider_label"] == "Acme Inference"
    with pytest.raises(KnowrithmAPIError) as err:
        prov_a.delete_model(pid, model["id"])
    assert err.value.status_code == 409
    with pytest.raises(KnowrithmAPIError) as err:
        prov_a.delete_provider(pid)
    assert err.value.status_code == 409


def test_delete_provider_disables_its_models(prov_a):
    pid = prov_a.create_provider("Scratch", "embedding")["id"]
    mid = prov_a.create_model(pid, "tiny-embed", "embedding", embedding_dimension=64)["id"]
    assert prov_a.delete_model(pid, mid)["model_id"] == mid
    mid2 = prov_a.create_model(pid, "tiny-embed-2", "embedding", embedding_dimension=64)["id"]
    result = prov_a.delete_provider(pid)
    assert result["provider_id"] == pid and result["models_disabled"] == 1
    for call in (lambda: prov_a.get_provider(pid), lambda: prov_a.get_model(pid, mid2)):
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == 404


def test_companies_add_models_to_catalog_providers_independently(prov_a, prov_b):
    vllm = platform_provider(prov_a, "vllm")
    a = prov_a.create_model(vllm["id"], "llama-3-70b", "llm", context_window=8192)
    b = prov_b.create_model(vllm["id"], "llama-3-70b", "llm", context_window=4096)
    assert a["id"] != b["id"]
    assert [m["id"] for m in prov_a.list_models(vllm["id"])["models"]] == [a["id"]]
    with pytest.raises(KnowrithmAPIError) as err:
        prov_b.get_model(vllm["id"], a["id"])
    assert err.value.status_code == 404


def test_bulk_import_reports_per_item_errors(prov_a):
    result = prov_a.bulk_import_providers({"providers": [
        {"name": "LocalAI", "type": "both", "api_base_url": "http://127.0.0.1:8080/v1",
         "models": [{"name": "phi-3", "type": "llm", "context_window": 4096},
                    {"name": "bge-small", "type": "embedding", "embedding_dimension": 384}]},
        {"name": "Broken", "type": "sideways"},
        {"name": "OpenAI", "models": [{"name": "gpt-4o-2024-11-20", "type": "llm", "context_window": 128000}]},
        {"name": "Half", "type": "llm", "models": [{"name": "emb", "type": "embedding", "embedding_dimension": 8}]},
    ]})
    assert result["providers_created"] == 1 and result["models_created"] == 3
    assert [e["index"] for e in result["errors"]] == [1, 3]
    assert "type" in result["errors"][0]["error"]
    names = {p["value"] for p in prov_a.list_providers()["providers"]}
    assert "localai" in names and "broken" not in names and "half" not in names
    openai = platform_provider(prov_a, "openai")
    assert "gpt-4o-2024-11-20" in {m["name"] for m in prov_a.list_models(openai["id"])["models"]}
    again = prov_a.bulk_import_providers({"providers": [{"name": "LocalAI", "type": "both",
                                                         "models": [{"name": "phi-3", "type": "llm",
                                                                     "context_window": 8192}]}]})
    assert again["providers_updated"] == 1 and again["models_updated"] == 1 and again["errors"] == []


def test_catalog_rows_are_read_only_for_companies(prov_a):
    openai = platform_provider(prov_a, "openai")
    assert {m["name"] for m in prov_a.get_provider(openai["id"])["models"]} >= {"gpt-4o", "text-embedding-3-small"}
    gpt = next(m for m in prov_a.list_models(openai["id"], )["models"] if m["name"] == "gpt-4o")
    for call in (lambda: prov_a.update_provider(openai["id"], description="mine"),
                 lambda: prov_a.delete_provider(openai["id"]),
                 lambda: prov_a.update_model(openai["id"], gpt["id"], context_window=1),
                 lambda: prov_a.delete_model(openai["id"], gpt["id"])):
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == 403
    assert prov_a.get_model(openai["id"], gpt["id"])["context_window"] == 128000


def test_other_company_cannot_see_or_change_custom_rows(prov_a, prov_b):
    pid = prov_a.create_provider("Private", "llm")["id"]
    mid = prov_a.create_model(pid, "secret-model", "llm")["id"]
    calls = [
        lambda: prov_b.get_provider(pid),
        lambda: prov_b.update_provider(pid, description="hijack"),
        lambda: prov_b.delete_provider(pid),
        lambda: prov_b.list_models(pid),
        lambda: prov_b.create_model(pid, "x", "llm"),
        lambda: prov_b.get_model(pid, mid),
        lambda: prov_b.update_model(pid, mid, context_window=1),
        lambda: prov_b.delete_model(pid, mid),
    ]
    for call in calls:
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == 404
    assert pid not in {p["id"] for p in prov_b.list_providers()["providers"]}
    assert prov_a.get_provider(pid)["description"] is None
    assert [m["name"] for m in prov_a.list_models(pid)["models"]] == ["secret-model"]


@pytest.mark.parametrize("call, status, field", [
    (lambda s, pid: s.create_provider("X", "quantum"), 400, "type"),
    (lambda s, pid: s.create_provider("", "llm"), 400, "name"),
    (lambda s, pid: s.create_model(pid, "m", "vision"), 400, "type"),
    (lambda s, pid: s.create_model(pid, "e", "embedding"), 400, "embedding_dimension"),
    (lambda s, pid: s.create_model(pid, "m", "llm", context_window=-5), 400, "context_window"),
    (lambda s, pid: s.create_model(pid, "dup", "llm"), 409, "name"),
    (lambda s, pid: s.create_provider("Base", "llm"), 409, "name"),
    (lambda s, pid: s.bulk_import_providers({"nothing": True}), 400, "providers"),
    (lambda s, pid: s.get_provider(str(uuid.uuid4())), 404, None),
])
def test_provider_bad_input(prov_a, call, status, field):
    pid = prov_a.create_provider("Base", "both")["id"]
    prov_a.create_model(pid, "dup", "llm")
    with pytest.raises(KnowrithmAPIError) as err:
        call(prov_a, pid)
    assert err.value.status_code == status
    if field:
        assert field in (err.value.response_data.get("details") or {})
