"""A small shop (customers, products, orders, order lines, with foreign keys) for PostgreSQL,
MariaDB and SQLite, dated relative to today so "last month" and "in March" always have rows, plus
30 questions with reference SQL (bench/text_to_sql_accuracy.py scores the offline generator)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from knowrithm.domains.databases.text_to_sql import _month_start

CUSTOMERS = [(1, "Dana", "dana@example.com", "Portugal"), (2, "Ada", "ada@example.com", "France"),
             (3, "Grace", "grace@example.com", "USA"), (4, "Linus", "linus@example.com", "Finland"),
             (5, "Margaret", "margaret@example.com", "USA"), (6, "Alan", "alan@example.com", "UK")]
PRODUCTS = [(1, "Widget", "Tools", 9.99), (2, "Gadget", "Tools", 24.50), (3, "Lamp", "Home", 35.00),
            (4, "Chair", "Home", 80.00), (5, "Mug", "Kitchen", 7.25)]


def anchors(today: date) -> dict[str, date]:
    march = date(today.year if today.month >= 3 else today.year - 1, 3, 1)
    return {"last_month": _month_start(today, -1), "this_month": _month_start(today), "march": march,
            "last_year": date(today.year - 1, 6, 10)}


def orders(today: date) -> list[tuple]:
    """(id, customer_id, ordered_at, status, [(product_id, quantity)])."""
    a = anchors(today)
    lm, m, old, tm = a["last_month"], a["march"], a["last_year"], a["this_month"]
    return [
        (1, 1, lm + timedelta(days=2), "paid", [(1, 3), (5, 1)]),
        (2, 1, lm + timedelta(days=10), "paid", [(3, 1)]),
        (3, 1, lm + timedelta(days=20), "shipped", [(2, 2)]),
        (4, 1, m + timedelta(days=5), "paid", [(1, 1)]),
        (5, 2, m + timedelta(days=3), "paid", [(2, 4), (1, 2)]),
        (6, 3, m + timedelta(days=8), "paid", [(2, 5)]),
        (7, 3, m + timedelta(days=15), "refunded", [(4, 1)]),
        (8, 4, m + timedelta(days=20), "paid", [(1, 2), (5, 6)]),
        (9, 5, lm + timedelta(days=5), "paid", [(4, 2)]),
        (10, 6, old, "paid", [(3, 3)]),
        (11, 2, tm, "paid", [(5, 2)]),
        (12, 5, old + timedelta(days=30), "refunded", [(1, 10)]),
    ]


def statements(dialect: str, today: date | None = None) -> list[str]:
    today = today or datetime.now(timezone.utc).date()
    stamp = "DATETIME" if dialect == "mysql" else "TIMESTAMP"
    ddl = [
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(200), "
        "country VARCHAR(50))",
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, category VARCHAR(50), "
        "price NUMERIC(10,2) NOT NULL)",
        f"CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), "
        f"ordered_at {stamp} NOT NULL, status VARCHAR(20) NOT NULL, total NUMERIC(10,2) NOT NULL)",
        "CREATE TABLE order_lines (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id), "
        "product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL, "
        "unit_price NUMERIC(10,2) NOT NULL)",
    ]
    price = {p[0]: p[3] for p in PRODUCTS}
    rows = [f"INSERT INTO customers VALUES ({i}, '{n}', '{e}', '{c}')" for i, n, e, c in CUSTOMERS]
    rows += [f"INSERT INTO products VALUES ({i}, '{n}', '{c}', {p})" for i, n, c, p in PRODUCTS]
    line_id = 0
    for oid, cid, day, status, lines in orders(today):
        total = round(sum(price[p] * q for p, q in lines), 2)
        rows.append(f"INSERT INTO orders VALUES ({oid}, {cid}, '{day.isoformat()} 10:30:00', '{status}', {total})")
        for pid, qty in lines:
            line_id += 1
            rows.append(f"INSERT INTO order_lines VALUES ({line_id}, {oid}, {pid}, {qty}, {price[pid]})")
    return ddl + rows


def questions(today: date | None = None) -> list[tuple[str, str]]:
    """(question, reference SQL in portable SQL with literal dates)."""
    today = today or datetime.now(timezone.utc).date()
    a = anchors(today)
    lm, tm, m = a["last_month"], a["this_month"], a["march"]
    m_end, ly = _month_start(m, 1), today.year - 1

    def between(start, end):
        return f"o.ordered_at >= '{start}' AND o.ordered_at < '{end}'"

    in_march = between(m, m_end)
    return [
        ("How many orders did Dana place last month?",
         f"SELECT COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.id WHERE c.name = 'Dana' AND "
         f"{between(lm, tm)}"),
        ("Which product sold most in March?",
         "SELECT p.name, SUM(l.quantity) FROM order_lines l JOIN products p ON l.product_id = p.id JOIN orders o ON "
         f"l.order_id = o.id WHERE {in_march} GROUP BY p.name ORDER BY 2 DESC LIMIT 1"),
        ("How many customers are there?", "SELECT COUNT(*) FROM customers"),
        ("How many customers are in the USA?", "SELECT COUNT(*) FROM customers WHERE country = 'USA'"),
        ("How many products are there?", "SELECT COUNT(*) FROM products"),
        ("How many orders are there?", "SELECT COUNT(*) FROM orders"),
        ("How many orders were refunded?", "SELECT COUNT(*) FROM orders WHERE status = 'refunded'"),
        ("How many paid orders are there?", "SELECT COUNT(*) FROM orders WHERE status = 'paid'"),
        ("What is the total of paid orders?", "SELECT SUM(total) FROM orders WHERE status = 'paid'"),
        ("What is the average price of products?", "SELECT AVG(price) FROM products"),
        ("Which product is the most expensive?", "SELECT * FROM products ORDER BY price DESC LIMIT 1"),
        ("Which product is the cheapest?", "SELECT * FROM products ORDER BY price ASC LIMIT 1"),
        ("How many orders did Ada place?",
         "SELECT COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.id WHERE c.name = 'Ada'"),
        ("How many orders did Grace place in March?",
         f"SELECT COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.id WHERE c.name = 'Grace' AND "
         f"{in_march}"),
        ("What is the total of orders last month?", f"SELECT SUM(total) FROM orders o WHERE {between(lm, tm)}"),
        ("Which customer placed the most orders?",
         "SELECT c.name, COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.name "
         "ORDER BY 2 DESC LIMIT 1"),
        ("How many orders per country?",
         "SELECT c.country, COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.country"),
        ("How many customers per country?", "SELECT country, COUNT(*) FROM customers GROUP BY country"),
        ("List the products in the Home category", "SELECT * FROM products WHERE category = 'Home'"),
        ("How many products are in the Tools category?", "SELECT COUNT(*) FROM products WHERE category = 'Tools'"),
        ("What is the highest order total?", "SELECT * FROM orders ORDER BY total DESC LIMIT 1"),
        ("How many orders were placed this month?",
         f"SELECT COUNT(*) FROM orders o WHERE {between(tm, _month_start(tm, 1))}"),
        ("How many orders were placed last year?",
         f"SELECT COUNT(*) FROM orders o WHERE {between(date(ly, 1, 1), date(ly + 1, 1, 1))}"),
        ("What is the total quantity of order lines in March?",
         f"SELECT SUM(l.quantity) FROM order_lines l JOIN orders o ON l.order_id = o.id WHERE {in_march}"),
        ("Which product sold the least in March?",
         "SELECT p.name, SUM(l.quantity) FROM order_lines l JOIN products p ON l.product_id = p.id JOIN orders o ON "
         f"l.order_id = o.id WHERE {in_march} GROUP BY p.name ORDER BY 2 ASC LIMIT 1"),
        ("What is the average order total?", "SELECT AVG(total) FROM orders"),
        ("How many orders did customers from the USA place?",
         "SELECT COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.id WHERE c.country = 'USA'"),
        ("Which product generated the most revenue?",
         "SELECT p.name, SUM(l.quantity * l.unit_price) FROM order_lines l JOIN products p ON l.product_id = p.id "
         "GROUP BY p.name ORDER BY 2 DESC LIMIT 1"),
        ("How many refunded orders did Grace place?",
         "SELECT COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.id WHERE c.name = 'Grace' AND "
         "o.status = 'refunded'"),
        ("Show the customers in France", "SELECT * FROM customers WHERE country = 'France'"),
    ]


def normalise(rows) -> list[tuple]:
    """Rows compared by value: numbers rounded to cents, dates as ISO text, order ignored."""
    def one(v):
        if isinstance(v, (int, float)) or type(v).__name__ == "Decimal":
            return round(float(v), 2)
        if hasattr(v, "isoformat"):
            return v.isoformat(sep=" ") if isinstance(v, datetime) else v.isoformat()
        return v
    return sorted((tuple(one(v) for v in row) for row in rows), key=repr)
