"""`knowrithm secrets rotate`: every stored secret moves to the newest key, after which the old
key can be removed; a secret no configured key can read stops the rotation before any change."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

from cryptography.fernet import Fernet
from sqlalchemy import select, text

OLD, NEW, LOST = Fernet.generate_key().decode(), Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _secrets(app, tenant, agent_id, *, key: str) -> None:
    """A database URL, an LLM key, an embedding key and a fallback model's key, encrypted with `key`."""
    from knowrithm.domains.databases.models import DatabaseConnection
    from knowrithm.domains.llm.models import LLMSettings, ProviderModel
    from knowrithm.infra.db import db

    f = Fernet(key.encode())
    enc = lambda s: f.encrypt(s.encode()).decode()  # noqa: E731
    with app.app_context():
        model = db.session.execute(select(ProviderModel).where(ProviderModel.company_id.is_(None))
                                   .limit(1)).scalars().first()
        db.session.add(DatabaseConnection(company_id=tenant.company_id, agent_id=uuid.UUID(agent_id), name="shop",
                                          database_type="postgres", url_encrypted=enc("postgresql://u:pw@db/shop")))
        db.session.add(LLMSettings(company_id=tenant.company_id, agent_id=uuid.UUID(agent_id),
                                   llm_provider_id=model.provider_id, llm_model_id=model.id,
                                   embedding_provider_id=model.provider_id, embedding_model_id=model.id,
                                   llm_api_key_encrypted=enc("sk-llm"), embedding_api_key_encrypted=enc("sk-emb"),
                                   fallback_models=[{"model": "m", "api_key_encrypted": enc("sk-fallback")}]))
        db.session.commit()
        db.session.remove()


def _stored(app) -> dict:
    from knowrithm.infra.db import db

    with app.app_context():
        out = {"db": db.session.execute(text("SELECT url_encrypted FROM database_connections")).scalars().all(),
               "llm": db.session.execute(text("SELECT llm_api_key_encrypted, embedding_api_key_encrypted, "
                                              "CAST(fallback_models AS text) FROM llm_settings")).all()}
        db.session.remove()
    return out


def _decrypt_all(app) -> list[str]:
    from knowrithm.domains.databases.models import DatabaseConnection
    from knowrithm.domains.llm.models import LLMSettings
    from knowrithm.infra.crypto import decrypt
    from knowrithm.infra.db import db

    with app.app_context():
        rows = db.session.execute(select(LLMSettings).execution_options(all_companies=True)).scalars().all()
        plain = [decrypt(c.url_encrypted) for c in db.session.execute(
            select(DatabaseConnection).execution_options(all_companies=True)).scalars()]
        for row in rows:
            plain += [decrypt(row.llm_api_key_encrypted), decrypt(row.embedding_api_key_encrypted),
                      decrypt(row.fallback_models[0]["api_key_encrypted"])]
        db.session.remove()
    return sorted(plain)


def _rotate(settings, keys: str) -> subprocess.CompletedProcess:
    """`knowrithm secrets rotate` in its own process, as an operator runs it (building a second app
    in the test process would make its Celery app the default under the running test worker)."""
    env = {**os.environ, "SQLALCHEMY_DATABASE_URI": settings.SQLALCHEMY_DATABASE_URI,
           "REDIS_URL": settings.REDIS_URL, "ENCRYPTION_KEY": keys, "LOG_JSON": "false",
           "UPLOAD_FOLDER": settings.UPLOAD_FOLDER}
    proc = subprocess.run([sys.executable, "-m", "knowrithm.cli", "secrets", "rotate"], env=env,
                          capture_output=True, text=True, timeout=300)
    proc.output = proc.stdout + proc.stderr
    return proc


def test_rotate_then_remove_the_old_key(app, settings, companies, agent_ids, monkeypatch):
    _secrets(app, companies[0], agent_ids[0], key=OLD)
    _secrets(app, companies[1], agent_ids[1], key=OLD)
    result = _rotate(settings, f"{NEW},{OLD}")
    assert result.returncode == 0, result.output
    assert "database_connections.url_encrypted: 2" in result.output
    assert "llm_settings.llm_api_key_encrypted: 2" in result.output
    assert "llm_settings.fallback_models: 2" in result.output and "rotated 8 secret(s)" in result.output
    # The old key is gone from the configuration: everything still decrypts.
    monkeypatch.setattr(app.config["SETTINGS"], "ENCRYPTION_KEY", f'["{NEW}"]')
    assert _decrypt_all(app) == sorted(["postgresql://u:pw@db/shop", "sk-llm", "sk-emb", "sk-fallback"] * 2)


def test_a_missing_old_key_names_the_unreadable_secrets_and_changes_nothing(app, settings, companies, agent_ids):
    _secrets(app, companies[0], agent_ids[0], key=OLD)
    _secrets(app, companies[1], agent_ids[1], key=LOST)
    before = _stored(app)
    result = _rotate(settings, f"{NEW},{OLD}")
    assert result.returncode == 1
    assert "4 stored secret(s) cannot be decrypted" in result.output and "nothing was changed" in result.output
    assert "database_connections.url_encrypted id=" in result.output
    assert "llm_settings.fallback_models id=" in result.output and "[api_key_encrypted]" in result.output
    assert _stored(app) == before
