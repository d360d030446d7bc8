def test_health_through_the_sdk(sdk_factory, celery_worker):
    client = sdk_factory()  # stale API-key headers must not matter on a public route
    body = client.analytics.health_check()
    assert body["status"] == "healthy"
    assert set(body["checks"]) == {"database", "redis", "worker"}
    assert all(c["status"] == "healthy" for c in body["checks"].values())


def test_health_at_every_prefix(http, celery_worker):
    for path in ("/health", "/api/health", "/api/v1/health", "/v1/health"):
        resp = http.get(path)
        assert resp.status_code == 200, path
        assert resp.json()["status"] == "healthy"
        assert resp.headers["X-Request-ID"]


def test_unhealthy_names_the_failed_dependency(app):
    import redis

    good = app.extensions["redis"]
    app.extensions["redis"] = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        resp = app.test_client().get("/api/health")
    finally:
        app.extensions["redis"] = good
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"]["status"] == "healthy"
    assert body["checks"]["redis"]["status"] == "unhealthy"
    assert "redis" in body["failed"] and "worker" in body["failed"]


def test_liveness_answers_while_a_dependency_is_down(app):
    import redis

    good = app.extensions["redis"]
    app.extensions["redis"] = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        client = app.test_client()
        assert client.get("/health").status_code == 503  # out of rotation (readiness) ...
        live = client.get("/health/live")  # ... but not restarted (liveness)
    finally:
        app.extensions["redis"] = good
    assert live.status_code == 200 and live.get_json()["status"] == "alive"


def test_unreachable_database_is_a_503_envelope(app):
    from sqlalchemy.exc import OperationalError

    err = OperationalError("SELECT 1", {}, Exception("connection to server failed: server closed the connection"))
    with app.test_request_context("/api/v1/agent"):
        resp = app.make_response(app.handle_user_exception(err))
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "2"
    body = resp.get_json()
    assert body["code"] == "DATABASE_UNAVAILABLE" and body["error"]


def test_exhausted_database_pool_is_a_503_envelope(app):
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    with app.test_request_context("/api/v1/agent"):
        resp = app.make_response(app.handle_user_exception(PoolTimeout("QueuePool limit of size 10 overflow 20 reached")))
    assert resp.status_code == 503 and resp.get_json()["code"] == "DATABASE_BUSY"
