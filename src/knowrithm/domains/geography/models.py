"""Reference geography (countries, states, cities; integer ids) and company addresses."""
from __future__ import annotations

import uuid

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from knowrithm.infra.db import Base, Timestamps


class Country(Timestamps, Base):
    __tablename__ = "countries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    iso_code: Mapped[str | None] = mapped_column(String(3), unique=True)
    states: Mapped[list["State"]] = relationship(back_populates="country", order_by="State.name")


class State(Timestamps, Base):
    __tablename__ = "states"
    __table_args__ = (UniqueConstraint("name", "country_id", name="uq_states_name_country"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    country_id: Mapped[int] = mapped_column(ForeignKey("countries.id", ondelete="CASCADE"), index=True,
                                            nullable=False)
    country: Mapped[Country] = relationship(back_populates="states")
    cities: Mapped[list["City"]] = relationship(back_populates="state", order_by="City.name")


class City(Timestamps, Base):
    __tablename__ = "cities"
    __table_args__ = (UniqueConstraint("name", "state_id", name="uq_cities_name_state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    state_id: Mapped[int] = mapped_column(ForeignKey("states.id", ondelete="CASCADE"), index=True, nullable=False)
    postal_code_prefix: Mapped[str | None] = mapped_column(String(20))
    state: Mapped[State] = relationship(back_populates="cities")


class Address(Timestamps, Base):
    """A company address; kept with an integer id like the rest of geography."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    street_address: Mapped[str] = mapped_column(String(255), nullable=False)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), nullable=False)
    state_id: Mapped[int] = mapped_column(ForeignKey("states.id"), nullable=False)
    country_id: Mapped[int] = mapped_column(ForeignKey("countries.id"), nullable=False)
    postal_code: Mapped[str | None] = mapped_column(String(20))
    lat: Mapped[float | None] = mapped_column(Float)
    lan: Mapped[float | None] = mapped_column(Float)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    city: Mapped[City] = relationship()
    state: Mapped[State] = relationship()
    country: Mapped[Country] = relationship()
