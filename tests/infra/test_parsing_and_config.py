import pytest
from werkzeug.datastructures import MultiDict

from knowrithm.config import ConfigurationError, Settings
from knowrithm.infra.errors import ValidationFailed
from knowrithm.infra.parsing import multidict_to_dict, parse_bool, split_list


@pytest.mark.parametrize("raw,expected", [("True", True), ("false", False), ("1", True), ("off", False),
                                          ("YES", True), (True, True)])
def test_booleans_are_parsed_leniently(raw, expected):
    assert parse_bool(raw) is expected


def test_bad_boolean_is_a_validation_error():
    with pytest.raises(ValidationFailed):
        parse_bool("maybe")


def test_list_fields_in_every_encoding():
    assert split_list(["a", "b"]) == ["a", "b"]
    assert split_list(['["a", "b"]']) == ["a", "b"]
    assert split_list(["a, b"]) == ["a", "b"]

    from pydantic import BaseModel

    class Form(BaseModel):
        urls: list[str] = []
        agent_id: str

    data = MultiDict([("agent_id", "x"), ("urls[]", "u1"), ("urls", "u2")])
    assert multidict_to_dict(data, Form) == {"agent_id": "x", "urls": ["u2", "u1"]}


def test_production_refuses_default_secrets():
    from knowrithm.app import create_app

    with pytest.raises(ConfigurationError) as err:
        create_app(Settings(_env_file=None, ENV="production", SQLALCHEMY_DATABASE_URI="postgresql://x/y"))
    assert "SECRET_KEY" in str(err.value) and "JWT_SECRET_KEY" in str(err.value)
    assert "ENCRYPTION_KEY" in str(err.value)
