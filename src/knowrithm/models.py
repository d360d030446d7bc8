"""Imports every model so SQLAlchemy's metadata (and Alembic autogenerate) sees them all."""
from knowrithm.domains.admin.models import SystemConfig  # noqa: F401
from knowrithm.domains.audit.models import AuditLog  # noqa: F401
from knowrithm.domains.agents.models import Agent  # noqa: F401
from knowrithm.domains.analytics.models import ApiRequestLog  # noqa: F401
from knowrithm.domains.auth.models import ApiKey, User  # noqa: F401
from knowrithm.domains.companies.models import Company  # noqa: F401
from knowrithm.domains.conversations.models import Conversation, Message  # noqa: F401
from knowrithm.domains.databases.models import DatabaseConnection, DatabaseTable  # noqa: F401
from knowrithm.domains.documents.models import Document, DocumentChunk  # noqa: F401
from knowrithm.domains.geography.models import Address, City, Country, State  # noqa: F401
from knowrithm.domains.leads.models import Lead  # noqa: F401
from knowrithm.domains.llm.models import LLMSettings, Provider, ProviderModel  # noqa: F401
from knowrithm.domains.websites.models import WebsitePage, WebsiteSource  # noqa: F401
from knowrithm.infra.tasks import TaskRecord  # noqa: F401
