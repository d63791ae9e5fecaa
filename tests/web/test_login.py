from tests.conftest import PASSWORD


def test_login_logout_round_trip(client, create_tenant):
    tenant = create_tenant("acme")
    response = client.post("/login", data={"email": tenant.owner.email, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/t/acme/"
    assert client.get("/t/acme/").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/t/acme/").status_code == 302  # back to the login page


def test_wrong_password_is_a_form_error_not_a_hint(client, create_tenant):
    tenant = create_tenant()
    wrong = client.post("/login", data={"email": tenant.owner.email, "password": "nope nope nope"})
    unknown = client.post("/login", data={"email": "nobody@example.test", "password": "nope nope nope"})
    assert wrong.status_code == unknown.status_code == 401
    message = "The e-mail address or password is not correct."
    assert message in wrong.get_data(as_text=True) and message in unknown.get_data(as_text=True)


def test_sixth_wrong_password_in_a_minute_is_refused(client, create_tenant):
    tenant = create_tenant()
    statuses = [client.post("/login", data={"email": tenant.owner.email, "password": f"wrong-{i}-xxxx"}).status_code
                for i in range(6)]
    assert statuses == [401] * 5 + [429]
    # Even the right password is refused while the limit holds: the attacker learns nothing.
    response = client.post("/login", data={"email": tenant.owner.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_successful_logins_do_not_count_against_the_limit(client, create_tenant):
    tenant = create_tenant()
    for _ in range(7):
        assert client.post("/login", data={"email": tenant.owner.email, "password": PASSWORD}).status_code == 302
        client.post("/logout")


def test_login_without_csrf_token_is_refused(client, create_tenant):
    tenant = create_tenant()
    response = client.post("/login", data={"email": tenant.owner.email, "password": PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert client.get(f"/t/{tenant.slug}/").status_code == 302


def test_next_parameter_cannot_redirect_off_site(client, create_tenant):
    tenant = create_tenant("acme")
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post(f"/login?next={target}", data={"email": tenant.owner.email, "password": PASSWORD})
        assert response.headers["Location"] == "/t/acme/"
        client.post("/logout")
    response = client.post("/login?next=/t/acme/settings/", data={"email": tenant.owner.email, "password": PASSWORD})
    assert response.headers["Location"] == "/t/acme/settings/"


def test_anonymous_portal_visit_goes_to_login_for_any_slug(client, create_tenant):
    create_tenant("acme")
    existing = client.get("/t/acme/settings/")
    missing = client.get("/t/no-such-tenant/settings/")
    assert existing.status_code == missing.status_code == 302
    assert existing.headers["Location"].startswith("/login")
