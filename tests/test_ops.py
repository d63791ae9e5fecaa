import json


def test_readyz_checks_database_and_redis(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert {c["name"]: c["ok"] for c in response.json["checks"]} == {"database": True, "redis": True}


def test_readyz_reports_a_dead_redis(app, client, db):
    import redis

    saved = app.extensions["postroom_redis"]
    app.extensions["postroom_redis"] = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        response = client.get("/readyz")
    finally:
        app.extensions["postroom_redis"] = saved
    assert response.status_code == 503 and response.json["status"] == "unavailable"
    assert {c["name"]: c["ok"] for c in response.json["checks"]} == {"database": True, "redis": False}


def test_request_id_is_echoed_and_logged_as_json(app, client, db):
    import io

    from app.logging import make_handler

    stream = io.StringIO()
    handler = make_handler("json", stream)
    app.logger.addHandler(handler)
    try:
        with app.test_request_context(headers={"X-Request-ID": "req-abcdefgh"}):
            app.preprocess_request()
            app.logger.warning("inside a request")
        app.logger.warning("outside")
    finally:
        app.logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "inside a request" and inside["request_id"] == "req-abcdefgh"
    assert inside["level"] == "WARNING" and inside["job_id"] is None
    assert outside["request_id"] is None
    response = client.get("/healthz", headers={"X-Request-ID": "req-12345678"})
    assert response.headers["X-Request-ID"] == "req-12345678"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32
