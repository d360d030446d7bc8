"""The one place environment variables are read.

`Settings()` reads the documented variables (and `.env` when present); tests and the
embedded launcher build their own `Settings(...)` and hand it to `create_app`.
"""
from __future__ import annotations

from functools import cached_property

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-change-me"
DEV_ENCRYPTION_KEY = "ZGV2LWluc2VjdXJlLWVuY3J5cHRpb24ta2V5LTMyYiE="  # 32 bytes, urlsafe b64


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    ENV: str = Field("development", description="`production` refuses default or missing secrets")
    SECRET_KEY: str = DEV_SECRET
    JWT_SECRET_KEY: str = DEV_SECRET
    JWT_ACCESS_TTL_SECONDS: int = 3600
    JWT_REFRESH_TTL_SECONDS: int = 30 * 24 * 3600
    ENCRYPTION_KEY: str = Field(DEV_ENCRYPTION_KEY, description="Fernet key(s), comma-separated: first encrypts, all decrypt")

    SQLALCHEMY_DATABASE_URI: str | None = None
    REDIS_URL: str | None = None
    CELERY_BROKER_URL: str | None = None
    CELERY_RESULT_BACKEND: str | None = None
    CELERY_TASK_ALWAYS_EAGER: bool = False

    UPLOAD_FOLDER: str = "uploads"
    MAX_FILE_SIZE: int = 50 * 1024 * 1024
    # Uploaded files: "local" (UPLOAD_FOLDER) or "s3" (any S3-compatible service).
    STORAGE_BACKEND: str = "local"
    S3_BUCKET: str | None = None
    S3_ENDPOINT_URL: str | None = None
    S3_REGION: str = "us-east-1"
    S3_ACCESS_KEY_ID: str | None = None
    S3_SECRET_ACCESS_KEY: str | None = None
    S3_PREFIX: str = ""
    OCR_LANGUAGES: str = "eng"
    # Documents still processing after this long are failed by the reaper (above the broker's
    # one-hour visibility timeout, so a redelivered task gets its chance first).
    DOCUMENT_STUCK_MINUTES: int = 90
    # Agents with at least this many live chunks get their own HNSW index (below it an exact
    # scan is both right and fast); `VECTOR_EF_SEARCH` bounds the rows one index scan returns.
    VECTOR_INDEX_MIN_CHUNKS: int = 20_000
    VECTOR_INDEX_BUILD_MEMORY: str = "512MB"
    VECTOR_EF_SEARCH: int = 100
    # Optional second-stage reranking of the fused results by a cross-encoder served over the
    # Cohere rerank protocol (Cohere, Jina, vLLM, Infinity, LocalAI). Off when unset.
    RERANK_PROVIDER: str | None = None
    RERANK_BASE_URL: str | None = None
    RERANK_MODEL: str | None = None
    RERANK_API_KEY: str | None = None
    RERANK_DEPTH: int = 30  # fused results sent to the reranker; the best `limit` are kept
    RERANK_TIMEOUT: float = 10.0
    # Fetching URLs (document uploads, crawls) refuses private/loopback/link-local hosts unless
    # this is set: tests and on-premise installs whose knowledge lives on an internal network.
    ALLOW_PRIVATE_URLS: bool = False
    BASE_URL: str = "http://127.0.0.1:8000"

    SMTP_SERVER: str | None = None
    SMTP_PORT: int = 587
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_USE_TLS: bool = True
    MAIL_FROM: str = "Knowrithm <no-reply@knowrithm.local>"
    RESEND_API_KEY: str | None = None
    RESEND_API_URL: str = "https://api.resend.com"
    GEMINI_API_KEY: str | None = None

    SUPER_ADMIN_EMAIL: str = "admin@knowrithm.local"
    SUPER_ADMIN_USERNAME: str = "superadmin"
    SUPER_ADMIN_FIRST_NAME: str = "Super"
    SUPER_ADMIN_LAST_NAME: str = "Admin"
    SUPER_ADMIN_PASSWORD: str | None = None

    ALLOW_PUBLIC_REGISTRATION: bool = True
    RATELIMIT_ENABLED: bool = True
    STREAMING_ENABLED: bool = True
    # Server-Sent Events: heartbeat interval (SDK read timeouts are 30 s) and open streams per company.
    SSE_HEARTBEAT_SECONDS: float = 15.0
    SSE_MAX_STREAMS_PER_COMPANY: int = 2000
    LOG_LEVEL: str = "INFO"
    LOG_JSON: bool = True

    @property
    def is_production(self) -> bool:
        return self.ENV.lower() in {"production", "prod"}

    @cached_property
    def broker_url(self) -> str:
        return self.CELERY_BROKER_URL or self.REDIS_URL or "redis://127.0.0.1:6379/0"

    @cached_property
    def result_backend(self) -> str:
        return self.CELERY_RESULT_BACKEND or self.REDIS_URL or "redis://127.0.0.1:6379/0"

    @cached_property
    def redis_url(self) -> str:
        return self.REDIS_URL or "redis://127.0.0.1:6379/0"

    def insecure_settings(self) -> list[str]:
        """Names of secrets that are missing or still at their development default."""
        bad = []
        for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
            value = getattr(self, name)
            if not value or value == DEV_SECRET or len(value) < 16:
                bad.append(name)
        if not self.ENCRYPTION_KEY or self.ENCRYPTION_KEY == DEV_ENCRYPTION_KEY:
            bad.append("ENCRYPTION_KEY")
        if not self.SQLALCHEMY_DATABASE_URI:
            bad.append("SQLALCHEMY_DATABASE_URI")
        return bad


class ConfigurationError(RuntimeError):
    pass


def check_production(settings: Settings) -> None:
    if settings.is_production:
        bad = settings.insecure_settings()
        if bad:
            raise ConfigurationError(
                "refusing to start in production with default or missing settings: " + ", ".join(bad)
            )
