def test_dbg(client, db, create_tenant, login):
    tenant = create_tenant("acme", locale="fr")
    login(tenant.owner)
    r = client.post("/t/acme/settings/preferences", data={"locale": "de", "timezone": ""})
    print(r.status_code, r.headers.get("Location"))
    import re
    print(re.findall(r'class="error"[^>]*>([^<]*)', r.get_data(as_text=True)))
    print(tenant.owner.locale)
