"""Real customer databases: the machine's PostgreSQL 15 and MariaDB, plus a SQLite file."""
import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

SCHEMA = [
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, country VARCHAR(50))",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), "
    "amount NUMERIC(10,2) NOT NULL, status VARCHAR(20))",
]
ROWS = [
    "INSERT INTO customers VALUES (1, 'Ada', 'France'), (2, 'Grace', 'USA'), (3, 'Linus', 'Finland'), "
    "(4, 'Margaret', 'USA')",
    "INSERT INTO orders VALUES (1, 1, 120.50, 'paid'), (2, 2, 80.00, 'paid'), (3, 2, 42.00, 'refunded'), "
    "(4, 4, 310.25, 'paid')",
]


def _fill(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for stmt in SCHEMA + ROWS:
            conn.execute(text(stmt))
    engine.dispose()


def _server_database(server: str, driver: str, public_scheme: str, quote: str, drop_suffix: str = ""):
    """Creates a throwaway database on a real server, fills it, yields its URL, drops it."""
    name = f"kn_customer_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{driver}://{server}", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no database server at {server}: {exc}")
    base = server.rsplit("/", 1)[0]
    _fill(f"{driver}://{base}/{name}")
    yield f"{public_scheme}://{base}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{drop_suffix}"))
    admin.dispose()


@pytest.fixture(scope="session")
def customer_postgres():
    yield from _server_database("postgres@127.0.0.1:5432/postgres", "postgresql+psycopg", "postgresql", '"',
                                " WITH (FORCE)")


@pytest.fixture(scope="session")
def customer_mysql():
    yield from _server_database("root@127.0.0.1:3306/", "mysql+pymysql", "mysql", "`")


@pytest.fixture
def customer_sqlite(settings):
    folder = Path(settings.UPLOAD_FOLDER) / "databases"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.db"
    with sqlite3.connect(path) as conn:
        for stmt in SCHEMA + ROWS:
            conn.execute(stmt)
    yield f"sqlite:///{path}"
    path.unlink(missing_ok=True)
