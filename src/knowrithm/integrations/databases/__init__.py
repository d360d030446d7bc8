"""Customer database connectors: one small subclass per engine plus `register()`."""
from .base import ConnectorError, QueryRejected, TableInfo, get_connector, normalise_type, supported_types

__all__ = ["ConnectorError", "QueryRejected", "TableInfo", "get_connector", "normalise_type", "supported_types"]
