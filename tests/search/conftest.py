from tests.documents.conftest import agent_a, agent_factory  # noqa: F401  (shared fixtures)
