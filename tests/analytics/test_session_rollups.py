"""The dashboard's session statistics read the hourly rollups plus the rows after them; on the
same request logs they equal the window query over the raw rows, to the microsecond, whatever
the window and however far the rollups have run."""
import random
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import text

# The definition the rollups must reproduce: a caller's run of requests with no silence longer
# than 30 minutes, from its first to its last request, over the raw rows of the window.
LIVE = text("""
WITH r AS (
  SELECT coalesce(lead_id, user_id) AS actor, created_at,
         CASE WHEN lag(created_at) OVER w IS NULL OR created_at - lag(created_at) OVER w > interval '30 minutes'
              THEN 1 ELSE 0 END AS opens
  FROM api_request_logs
  WHERE company_id = :company_id AND created_at >= :since AND created_at <= :until
    AND auth_type IN ('user', 'lead') AND coalesce(lead_id, user_id) IS NOT NULL
  WINDOW w AS (PARTITION BY coalesce(lead_id, user_id) ORDER BY created_at)
), numbered AS (
  SELECT actor, created_at, sum(opens) OVER (PARTITION BY actor ORDER BY created_at) AS session FROM r
), sessions AS (
  SELECT max(created_at) - min(created_at) AS length FROM numbered GROUP BY actor, session
)
SELECT count(*), coalesce(sum(extract(epoch FROM length)), 0),
       (SELECT count(DISTINCT ip_address) FROM api_request_logs
        WHERE company_id = :company_id AND created_at >= :since AND created_at <= :until)
FROM sessions""")


def _traffic(company_id, start, rng, rows=1500):
    """Users and visitors whose gaps mix a few seconds, ~20-40 minutes (around the session gap,
    often across an hour boundary) and hours; API-key requests in between (no sessions)."""
    import uuid

    users = [uuid.uuid4() for _ in range(3)]
    leads = [uuid.uuid4() for _ in range(4)]
    out = []
    for actor in users + leads:
        at = start + timedelta(seconds=rng.uniform(0, 7200))
        for _ in range(rows // 8):
            out.append({"company_id": company_id, "auth_type": "lead" if actor in leads else "user",
                        "user_id": None if actor in leads else actor, "lead_id": actor if actor in leads else None,
                        "ip": f"10.1.{rng.randint(0, 3)}.{rng.randint(0, 40)}", "at": at})
            at += timedelta(seconds=rng.choice([rng.uniform(1, 90), rng.uniform(1200, 2400) if rng.random() < 0.9 else 1800, rng.uniform(3600, 20000)]),
                            microseconds=rng.randint(0, 999_999))
    for _ in range(rows // 8):  # machine traffic: addresses count, sessions do not
        out.append({"company_id": company_id, "auth_type": "api_key", "user_id": users[0], "lead_id": None,
                    "ip": f"10.2.0.{rng.randint(0, 9)}", "at": start + timedelta(seconds=rng.uniform(0, 4 * 86400))})
    return out


def test_rollup_backed_sessions_equal_the_live_window_query(app, companies):
    from knowrithm.domains.analytics import activity
    from knowrithm.domains.analytics.rollups import roll_up
    from knowrithm.infra.db import db, utcnow

    a, b = companies
    rng = random.Random(12)
    start = (utcnow() - timedelta(days=5)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = _traffic(a.company_id, start, rng) + _traffic(b.company_id, start, rng)
    with app.app_context():
        db.session.execute(text(
            "INSERT INTO api_request_logs (id, company_id, user_id, lead_id, auth_type, method, endpoint, status_code,"
            " response_time_ms, ip_address, created_at) VALUES (gen_random_uuid(), :company_id, :user_id, :lead_id,"
            " :auth_type, 'GET', '/api/v1/x', 200, 1.0, :ip, :at)"), rows)
        db.session.commit()
        end = max(r["at"] for r in rows)
        windows = [(start, end), (start + timedelta(minutes=37, seconds=11), end - timedelta(hours=5, minutes=3)),
                   (start + timedelta(days=1, hours=2), start + timedelta(days=3, minutes=30)),
                   (start + timedelta(hours=5, minutes=59), start + timedelta(hours=6, minutes=1)),
                   (start + timedelta(hours=23, minutes=10), start + timedelta(days=2, hours=1, minutes=5))]

        def compare(stage):
            for since, until in windows:
                for tenant in (a, b):
                    live = db.session.execute(LIVE, {"company_id": tenant.company_id, "since": since,
                                                     "until": until}).one()
                    expected = (int(live[0]), Decimal(live[1]), int(live[2]))
                    assert activity.session_totals(tenant.company_id, since, until) == expected, (stage, since, until)
                    assert expected[0] > 0 or until - since < timedelta(hours=1)

        compare("no rollups yet")
        # The beat catching up in steps: each step reads more rollups and fewer raw rows.
        for step in (timedelta(hours=7, minutes=20), timedelta(days=2, hours=3), timedelta(days=6)):
            roll_up(now=start + step)
            compare(f"rolled up to {start + step}")
        counted = db.session.execute(text("SELECT count(*), sum(breaks) FROM session_rollups")).one()
        days = db.session.execute(text("SELECT count(*) FROM client_ip_rollups WHERE granularity = 'day'")).scalar()
        assert counted[0] > 0 and counted[1] > 0 and days > 0  # the rollups, breaks inside an hour included, were read
        rolled = activity._rolled_range(*windows[0])
        assert rolled["h1"] - rolled["h0"] > timedelta(days=3) and rolled["d1"] > rolled["d0"]
        roll_up(now=start + timedelta(days=6))  # a repeated run changes nothing
        compare("rolled up again")
        db.session.remove()
