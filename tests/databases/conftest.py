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


def _fill(url: str, statements=None) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for stmt in statements or SCHEMA + ROWS:
            conn.execute(text(stmt))
    engine.dispose()


def _server_database(server: str, driver: str, public_scheme: str, quote: str, drop_suffix: str = "",
                     statements=None):
    """Creates a throwaway database on a real server, fills it, yields its URL, drops it."""
    name = f"kn_customer_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{driver}://{server}", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no database server at {server}: {exc}")
    base = server.rsplit("/", 1)[0]
    _fill(f"{driver}://{base}/{name}", statements)
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


# The shop of shop.py (customers, products, orders, order lines), one fresh database per test run.
@pytest.fixture(scope="session")
def shop_postgres():
    from .shop import statements

    yield from _server_database("postgres@127.0.0.1:5432/postgres", "postgresql+psycopg", "postgresql", '"',
                                " WITH (FORCE)", statements=statements("postgresql"))


@pytest.fixture(scope="session")
def shop_mysql():
    from .shop import statements

    yield from _server_database("root@127.0.0.1:3306/", "mysql+pymysql", "mysql", "`",
                                statements=statements("mysql"))


@pytest.fixture
def shop_sqlite(settings):
    from .shop import statements

    folder = Path(settings.UPLOAD_FOLDER) / "databases"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"shop-{uuid.uuid4().hex}.db"
    with sqlite3.connect(path) as conn:
        for stmt in statements("sqlite"):
            conn.execute(stmt)
    yield f"sqlite:///{path}"
    path.unlink(missing_ok=True)


def checksum(url: str) -> str:
    """A digest of every table's rows and of the table list: unchanged means nothing was written."""
    import hashlib

    from sqlalchemy import inspect

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://").replace("mysql://", "mysql+pymysql://"))
    digest = hashlib.sha256()
    try:
        names = sorted(inspect(engine).get_table_names())
        digest.update(repr(names).encode())
        with engine.connect() as conn:
            for name in names:
                rows = conn.execute(text(f"SELECT * FROM {name} ORDER BY 1")).fetchall()
                digest.update(repr([tuple(str(v) for v in r) for r in rows]).encode())
    finally:
        engine.dispose()
    return digest.hexdigest()
