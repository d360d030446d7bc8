"""The audit trail: the bottom domain layer. Every domain may import it; it imports no domain."""
