"""The one place environment variables are read.

`Settings()` reads the documented variables (and `.env` when present); tests and the
embedded launcher build their own `Settings(...)` and hand it to `create_app`.
"""
from __future__ import annotations

import os
from functools import cached_property

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-change-me"
DEV_ENCRYPTION_KEY = "ZGV2LWluc2VjdXJlLWVuY3J5cHRpb24ta2V5LTMyYiE="  # 32 bytes, urlsafe b64


class Settings(BaseSettings):
    # KNOWRITHM_SECRETS_FILE: generated secrets shared by the containers of one installation
    # (deploy/docker/entrypoint.sh); the environment and .env take precedence over it.
    model_config = SettingsConfigDict(env_file=(os.environ.get("KNOWRITHM_SECRETS_FILE", "/nonexistent"), ".env"),
                                      extra="ignore", case_sensitive=True)

    ENV: str = Field("development", description="`production` refuses default or missing secrets")
    SECRET_KEY: str = DEV_SECRET
    JWT_SECRET_KEY: str = DEV_SECRET
    JWT_ACCESS_TTL_SECONDS: int = 3600
    JWT_REFRESH_TTL_SECONDS: int = 30 * 24 * 3600
    ENCRYPTION_KEY: str = Field(DEV_ENCRYPTION_KEY, description="Fernet key(s), comma-separated: first encrypts, all decrypt")

    SQLALCHEMY_DATABASE_URI: str | None = None
    # Set when SQLALCHEMY_DATABASE_URI points at pgBouncer in transaction mode: psycopg then
    # never prepares statements server-side (a pooled server connection is shared by clients).
    # See deploy/pgbouncer/pgbouncer.ini for the settings and what needs session mode.
    PGBOUNCER_TRANSACTION_MODE: bool = False
    # 30 connections per process at most, as before (10 + 20 overflow), but all kept once opened:
    # a gevent API worker runs many requests at once, and overflow connections were closed on
    # return and reopened for the next burst (a PostgreSQL backend start each; bench/api_throughput.py
    # --profile showed a tenth of a saturated worker's time in connect/close).
    SQLALCHEMY_POOL_SIZE: int = 30
    SQLALCHEMY_MAX_OVERFLOW: int = 0
    REDIS_URL: str | None = None
    CELERY_BROKER_URL: str | None = None
    CELERY_RESULT_BACKEND: str | None = None
    CELERY_TASK_ALWAYS_EAGER: bool = False
    # Redis broker only: a message taken by a worker that dies before acknowledging it (tasks are
    # acknowledged late) goes back to its queue after this many seconds, for any other worker to
    # run. It must exceed the longest task hard time limit (3,700 s), or a long task still running
    # would be delivered a second time; workers log an error at start when it does not
    # (infra.tasks.check_visibility_timeout). RabbitMQ requeues at once when the consumer's
    # connection drops and ignores this.
    CELERY_VISIBILITY_TIMEOUT: int = 4200
    # How often an idle Redis consumer looks for such messages (kombu's restore sweep).
    CELERY_RESTORE_INTERVAL: int = 60

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
    # 70-minute visibility timeout, so a redelivered task gets its chance first).
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
    # Directories (os.pathsep-separated) where SQLite connections may open files, read-only.
    # Default: `<UPLOAD_FOLDER>/databases`. Any other path, `..` or a symlink leading out is refused.
    DATABASE_FILE_DIRS: str | None = None
    # Queries on customer databases (chat answers, text-to-SQL, search) are cut after this long.
    DATABASE_QUERY_TIMEOUT_SECONDS: int = 15
    BASE_URL: str = "http://127.0.0.1:8000"

    # Data lifecycle (README "Data lifecycle"). Soft-deleted rows are purged for good after the
    # grace period. Retention defaults (days; unset = keep forever) apply to every company that
    # sets no value of its own; the audit log may never be kept for less than the floor (a super
    # admin may raise it at run time). The daily run deletes in batches of RETENTION_BATCH_SIZE
    # rows, at most RETENTION_MAX_BATCHES per class and company, and resumes the next day.
    SOFT_DELETE_GRACE_DAYS: int = 30
    RETENTION_CONVERSATIONS_DAYS: int | None = None
    RETENTION_LEADS_DAYS: int | None = None
    RETENTION_REQUEST_LOGS_DAYS: int | None = 90
    RETENTION_ANALYTICS_EVENTS_DAYS: int | None = 395
    RETENTION_AUDIT_LOG_DAYS: int | None = 365
    RETENTION_AUDIT_LOG_FLOOR_DAYS: int = 90
    RETENTION_UPLOADED_FILES_DAYS: int | None = None
    RETENTION_TASK_RECORDS_DAYS: int | None = 30
    RETENTION_BATCH_SIZE: int = 5000
    RETENTION_MAX_BATCHES: int = 200
    # Company exports: the signed download link's lifetime; the zip is removed after it.
    EXPORT_LINK_TTL_SECONDS: int = 24 * 3600
    # `knowrithm backup`: nightly by beat when BACKUP_DIR is set (a directory, or s3://bucket/prefix
    # with the S3_* credentials); older backups are removed after BACKUP_RETENTION_DAYS.
    BACKUP_DIR: str | None = None
    BACKUP_RETENTION_DAYS: int = 14
    # Where pg_dump/pg_restore live; default: the embedded PostgreSQL's, then PATH.
    PG_BIN_DIR: str | None = None

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
    # Browser origins (comma-separated, e.g. "https://app.example.com") allowed to call the API
    # cross-origin. The widget's public routes answer any origin (an agent's widget config may
    # narrow that with `allowedOrigins`); every other route only these. Empty: none.
    CORS_ORIGINS: str = ""
    # Reverse proxies in front of the API that append to X-Forwarded-For/-Proto. 0 trusts no
    # header: client IPs (rate limits, audit) are the socket's peer address.
    TRUSTED_PROXY_COUNT: int = 0
    # Chat turns (each one an LLM call) per visitor session, per conversation and per company.
    CHAT_RATE_PER_SESSION: str = "20/minute"
    CHAT_RATE_PER_CONVERSATION: str = "30/minute"
    CHAT_RATE_PER_COMPANY: str = "600/minute"
    STREAMING_ENABLED: bool = True
    # Server-Sent Events: heartbeat interval (SDK read timeouts are 30 s) and open streams per company.
    SSE_HEARTBEAT_SECONDS: float = 15.0
    SSE_MAX_STREAMS_PER_COMPANY: int = 2000
    # Socket.IO v4 at /socket.io (the widget's realtime channel; it falls back to polling without it).
    SOCKETIO_ENABLED: bool = True
    LOG_LEVEL: str = "INFO"
    # Responses slower than this are logged at WARNING with their route and latency.
    SLOW_REQUEST_MS: float = 1000.0
    SLOW_QUERY_MS: float = 500.0
    # Prometheus: `/metrics` on the API and the worker's exporter answer only
    # `Authorization: Bearer <METRICS_TOKEN>`; without a token both are off.
    METRICS_TOKEN: str | None = None
    METRICS_WORKER_PORT: int | None = None
    METRICS_BIND: str = "127.0.0.1"
    QUEUE_DEPTH_WARN: int = 1000  # WARNING logged (each minute, and at scrapes) at this many queued messages
    # WARNING logged (each minute, and at scrapes) when less of the upload folder's disk is free.
    UPLOAD_DISK_FREE_WARN: float = Field(0.10, ge=0, le=1)
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

    @property
    def database_file_dirs(self) -> list[str]:
        import os
        from pathlib import Path

        if self.DATABASE_FILE_DIRS and self.DATABASE_FILE_DIRS.strip():
            dirs = [d.strip() for d in self.DATABASE_FILE_DIRS.split(os.pathsep) if d.strip()]
        else:
            dirs = [str(Path(self.UPLOAD_FOLDER) / "databases")]
        return [str(Path(d).expanduser().absolute()) for d in dirs]

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
