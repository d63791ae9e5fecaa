"""Ids beyond the database's integers are missing objects (404), never a database error (500)."""

import pytest


@pytest.mark.parametrize("path", ["/api/v1/tickets/99999999999", "/api/v1/rules/2147483648",
                                  "/api/v1/webhooks/99999999999/deliveries", "/api/v1/dlp-rules/99999999999"])
def test_an_id_beyond_the_databases_integers_is_a_404(client, db, create_tenant, api_token, path):
    response = client.get(path, headers=api_token(create_tenant("acme")))
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_the_largest_id_is_still_looked_up(client, db, create_tenant, api_token):
    assert client.get("/api/v1/tickets/2147483647", headers=api_token(create_tenant("acme"))).status_code == 404
