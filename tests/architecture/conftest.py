import pytest


@pytest.fixture(autouse=True)
def clean_db():
    """These checks read source files only: no app, no database to clean."""
    yield
