"""The profile update body (users edit their own profile) and the user answers."""
from __future__ import annotations

from datetime import datetime

from pydantic import Field, field_validator

from knowrithm.domains.auth.schemas import Input, UserOut
from knowrithm.infra.responses import Open


class ProfileIn(Input):
    """Any subset of the fields; unknown keys are tolerated and ignored."""

    first_name: str | None = Field(None, min_length=1, max_length=100)
    last_name: str | None = Field(None, min_length=1, max_length=100)
    timezone: str | None = Field(None, min_length=1, max_length=64)
    language: str | None = Field(None, min_length=2, max_length=16, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    preferences: dict | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as 'UTC' or 'Europe/Paris'") from None
        return value


class ProfileOut(Open):
    user: UserOut


class UserRetrievedOut(Open):
    success: bool
    message: str
    user: UserOut
    data: UserOut
    timestamp: datetime
