"""Reading one message safely: the sandboxed frame and its policy, remote images held back, inline images, the
plain-text toggle, attachment downloads, and the admins' raw headers and original mail."""

from __future__ import annotations

import base64
import hashlib
import re
from email.message import EmailMessage

import pytest

from app.inbox.rendering import STYLE_HASH, render_html
from app.tickets.models import Direction, Message
from tenants.models import Role

BASE = "/t/acme/inbox"
GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
TRACKER = "http://tracker.example/p.gif"
NEWSLETTER = (f'<p>Hello <b>there</b></p><img src="{TRACKER}" width="1" height="1">'
              '<p><a href="https://shop.example/offer">Offer</a></p><img src="cid:logo@client.test" alt="Logo">'
              '<img src="cid:vector@client.test" alt="Vector"><img src="cid:fake@client.test" alt="Fake">')


@pytest.fixture
def admin(inbox, add_member, login):
    user = add_member(inbox.tenant, Role.ADMIN)
    login(user)
    return user


def html_mail(html: str, *, text: str = "Plain version", subject: str = "Newsletter", inline: bool = False,
              attachments: tuple = (), headers: dict | None = None) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "Shop <news@shop.example>", "support@acme.test", subject
    message["Message-ID"] = f"<{abs(hash((subject, html)))}@shop.example>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if inline:
        html_part = message.get_payload()[1]
        html_part.add_related(GIF, "image", "gif", cid="<logo@client.test>")
        html_part.add_related(SVG, "image", "svg+xml", cid="<vector@client.test>")
        html_part.add_related(b"<script>alert(3)</script>", "image", "png", cid="<fake@client.test>")  # not a PNG
    for filename, data, maintype, subtype in attachments:
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(message)


def _deliver(inbox, raw: bytes) -> Message:
    return inbox.message_of(inbox.deliver(raw))


def _policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else "" for part in header.split("; ")}


def _imgs(html: str) -> list[str]:
    return re.findall(r"<img[^>]*>", html)


def test_the_frame_has_a_policy_of_its_own_no_script_no_form_no_remote_image(client, db, inbox, agent):
    message = _deliver(inbox, html_mail(NEWSLETTER))
    response = client.get(f"{BASE}/messages/{message.id}/frame")
    assert response.status_code == 200 and response.mimetype == "text/html"
    policy = _policy(response)
    assert policy["default-src"] == "'none'" and policy["script-src"] == "'none'"
    assert policy["form-action"] == "'none'" and policy["base-uri"] == "'none'"
    assert policy["frame-ancestors"] == "'self'"
    assert policy["img-src"] == "data:"
    assert policy["style-src"] == f"'{STYLE_HASH}'"
    assert policy["sandbox"].split() == ["allow-popups", "allow-popups-to-escape-sandbox"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "private, no-store"
    body = response.get_data(as_text=True)
    # The one inline style is the one whose hash the policy names.
    style = re.search(r"<style>(.*?)</style>", body, re.S).group(1)
    assert "sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode() == STYLE_HASH
    assert "Hello <b>there</b>" in body
    assert TRACKER not in body and "tracker.example" not in body  # not even attempted: the source is gone
    assert '<a href="https://shop.example/offer" target="_blank" rel="noopener noreferrer">Offer</a>' in body


def test_remote_images_load_only_when_the_agent_allows_them_for_that_message(client, db, inbox, agent):
    message = _deliver(inbox, html_mail(NEWSLETTER))
    response = client.get(f"{BASE}/messages/{message.id}/frame?images=1")
    assert _policy(response)["img-src"] == "data: http: https:"
    assert f'<img src="{TRACKER}" width="1" height="1">' in response.get_data(as_text=True)
    # Other pages keep the app's own policy: not frameable at all.
    page = client.get(f"{BASE}/{message.ticket_id}")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and "sandbox" not in page.headers["Content-Security-Policy"]


def test_inline_images_are_embedded_only_when_they_really_are_raster_images(client, db, inbox, agent):
    message = _deliver(inbox, html_mail(NEWSLETTER, inline=True))
    body = client.get(f"{BASE}/messages/{message.id}/frame").get_data(as_text=True)
    images = _imgs(body)
    logo = f'<img src="data:image/gif;base64,{base64.b64encode(GIF).decode()}" alt="Logo">'
    assert logo in images
    assert '<img alt="Vector">' in images  # SVG: never inlined (it can carry script)
    assert '<img alt="Fake">' in images  # claims image/png, is not: the bytes decide
    assert "cid:" not in body and "alert" not in body


def test_stored_html_is_sanitized_again_when_rendered(client, db, inbox, agent):
    message = _deliver(inbox, html_mail("<p>Old</p>"))
    message.html = ('<p>Kept text</p><script>alert(1)</script><img src=x onerror="alert(2)">'
                    '<a href="javascript:alert(3)">js</a><a href="/t/acme/settings/">relative</a>'
                    '<a href="data:text/html,<script>alert(4)</script>">data</a>'
                    '<div style="background:url(http://evil.example/bg.png)" onclick="alert(5)">styled</div>'
                    '<svg onload="alert(6)"><image href="http://evil.example/s.png"/></svg>'
                    '<form action="http://evil.example/f"><input name=q><button>Go</button></form>'
                    '<meta http-equiv="refresh" content="0;url=http://evil.example/">'
                    '<base href="http://evil.example/"><iframe src="http://evil.example/"></iframe>'
                    '<object data="http://evil.example/o"></object><embed src="http://evil.example/e">'
                    '<link rel="stylesheet" href="http://evil.example/s.css"><style>@import "http://evil.example/i";</style>'
                    '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">')
    db.session.commit()
    body = client.get(f"{BASE}/messages/{message.id}/frame").get_data(as_text=True)
    document = body.split("<body>", 1)[1]
    assert "Kept text" in document and "styled" in document
    for forbidden in ("<script", "onerror", "onclick", "onload", "javascript:", "data:", "style=", "<svg", "<form",
                      "<input", "<meta", "<base", "<iframe", "<object", "<embed", "<link", "<style", "evil.example",
                      'href="/t/'):
        assert forbidden not in document, forbidden


@pytest.mark.parametrize(("html", "expected"), [
    ('<a href="mailto:ann@client.test">Mail</a>',
     '<a href="mailto:ann@client.test" target="_blank" rel="noopener noreferrer">Mail</a>'),
    ('<a href="//evil.example/x">x</a>', '<a target="_blank" rel="noopener noreferrer">x</a>'),
    ('<a href=" JaVaScRiPt:alert(1)">x</a>', '<a target="_blank" rel="noopener noreferrer">x</a>'),
    ('<a href="cid:logo@x">x</a>', '<a target="_blank" rel="noopener noreferrer">x</a>'),
    ('<a href="https://x.example" target="_self" rel="opener">x</a>',
     '<a href="https://x.example" target="_blank" rel="noopener noreferrer">x</a>'),
    ('<img src="data:image/png;base64,iVBORw0KGgo=">', '<img src="data:image/png;base64,iVBORw0KGgo=">'),
    ('<img src="data:text/html;base64,PHNjcmlwdD4=">', "<img>"),
    ('<img src="//tracker.example/p.gif">', "<img>"),
    ('<img src="cid:Logo%40Client.test">', '<img src="data:image/gif;base64,R0lG">'),
])
def test_render_html_rules(html, expected):
    assert _tags(render_html(html, images={"logo@client.test": "data:image/gif;base64,R0lG"}).html) == _tags(expected)


def _tags(html: str) -> list[tuple[str, set[str]]]:
    """Each start tag with its attributes, in any order (nh3 chooses the order)."""
    tags = re.findall(r"<(\w+)([^>]*)>", html)
    return [(name, set(re.findall(r'\w+="[^"]*"', attributes))) for name, attributes in tags]


def test_the_ticket_page_frames_the_html_blocks_remote_images_and_toggles_plain_text(client, db, inbox, agent):
    message = _deliver(inbox, html_mail(NEWSLETTER, text="Hello there, plain"))
    plain = _deliver(inbox, html_mail("<p>No images here</p>", subject=f"Re: x [#{message.ticket.reference}]"))
    html = client.get(f"{BASE}/{message.ticket_id}").get_data(as_text=True)
    frame = re.search(rf'<iframe[^>]*id="message-frame-{message.id}"[^>]*>', html, re.S).group(0)
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame
    assert 'referrerpolicy="no-referrer"' in frame and 'title="Message from Shop"' in frame
    assert f'src="{BASE}/messages/{message.id}/frame"' in frame
    assert "Remote images are blocked" in html
    show = re.search(rf'<a [^>]*id="show-images-{message.id}"[^>]*>Show images</a>', html, re.S).group(0)
    assert f'href="{BASE}/messages/{message.id}/frame?images=1"' in show  # without JavaScript: the frame alone
    assert f'target="message-frame-{message.id}"' in show
    assert f'hx-get="{BASE}/messages/{message.id}?images=1"' in show and 'hx-target="#message-' in show
    assert f'id="show-images-{plain.id}"' not in html  # no remote image, no notice
    toggle = re.search(rf'<details class="message-plain" id="plain-{message.id}">(.*?)</details>', html, re.S)
    assert "Plain text" in toggle.group(1) and "Hello there, plain" in toggle.group(1)
    assert "<b>there" not in html and TRACKER not in html  # the HTML itself is only ever in the frame


def test_show_images_swaps_that_message_only(client, db, inbox, agent):
    message = _deliver(inbox, html_mail(NEWSLETTER))
    response = client.htmx("GET", f"{BASE}/messages/{message.id}?images=1", target=f"message-{message.id}")
    part = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in part
    assert part.lstrip().startswith(f'<article class="card message message-inbound" id="message-{message.id}">')
    assert f'src="{BASE}/messages/{message.id}/frame?images=1"' in part
    assert "Remote images are shown for this message." in part and "Show images" not in part
    plain_visit = client.get(f"{BASE}/messages/{message.id}")
    assert plain_visit.status_code == 302
    assert plain_visit.headers["Location"] == f"{BASE}/{message.ticket_id}#message-{message.id}"


def test_attachments_download_as_files_never_rendered(client, db, inbox, agent):
    payload = b"<script>alert(document.cookie)</script>"
    message = _deliver(inbox, html_mail("<p>See attached</p>", attachments=[
        ("résumé \"final\".html", payload, "text", "html")]))
    attachment = message.attachments[0]
    html = client.get(f"{BASE}/{message.ticket_id}").get_data(as_text=True)
    link = re.search(rf'<li[^>]*id="attachment-{attachment.id}">(.*?)</li>', html, re.S).group(1)
    assert f'href="{BASE}/attachments/{attachment.id}"' in link and 'hx-boost="false"' in link
    assert f"· {len(payload)} Bytes" in link  # size, as filesizeformat writes it
    response = client.get(f"{BASE}/attachments/{attachment.id}")
    assert response.status_code == 200 and response.data == payload
    assert response.headers["Content-Type"] == "application/octet-stream"  # never the claimed text/html
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=") and "filename*=UTF-8''r%C3%A9sum%C3%A9" in disposition
    assert "\n" not in disposition and response.headers["X-Content-Type-Options"] == "nosniff"
    assert _policy(response)["sandbox"] == "" and _policy(response)["default-src"] == "'none'"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Content-Length"] == str(len(payload))


def test_a_withheld_attachment_cannot_be_downloaded_and_says_why(client, db, inbox, agent):
    inbox.tenant.blocked_attachment_types = ["exe"]
    db.session.commit()
    message = _deliver(inbox, html_mail("<p>Run me</p>", attachments=[
        ("setup.exe", b"MZ" + b"\0" * 100, "application", "octet-stream")]))
    attachment = message.attachments[0]
    assert attachment.withheld_reason == "blocked_type"
    html = client.get(f"{BASE}/{message.ticket_id}").get_data(as_text=True)
    assert "Withheld: blocked file type" in html and f"/attachments/{attachment.id}" not in html
    response = client.get(f"{BASE}/attachments/{attachment.id}")
    assert response.status_code == 410 and b"MZ" not in response.data
    assert "“setup.exe” was withheld (blocked file type)" in response.get_data(as_text=True)


def test_agents_may_not_read_raw_headers_or_the_original(client, db, inbox, agent):
    message = _deliver(inbox, html_mail("<p>Hi</p>"))
    assert client.get(f"{BASE}/messages/{message.id}/headers").status_code == 403
    assert client.get(f"{BASE}/messages/{message.id}/eml").status_code == 403
    html = client.get(f"{BASE}/{message.ticket_id}").get_data(as_text=True)
    assert f"/messages/{message.id}/headers" not in html and f"/messages/{message.id}/eml" not in html


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_admins_read_raw_headers_escaped_and_download_the_original(client, db, inbox, add_member, login, role):
    raw = html_mail("<p>Hi</p>", headers={"X-Evil": "<script>alert(1)</script>"})
    message = _deliver(inbox, raw)
    login(inbox.tenant.owner if role is Role.OWNER else add_member(inbox.tenant, role))
    page = client.get(f"{BASE}/{message.ticket_id}").get_data(as_text=True)
    assert f'href="{BASE}/messages/{message.id}/headers"' in page and f'href="{BASE}/messages/{message.id}/eml"' in page
    response = client.get(f"{BASE}/messages/{message.id}/headers")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<th scope=\"row\">X-Evil</th>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "<th scope=\"row\">Message-ID</th>" in html
    original = client.get(f"{BASE}/messages/{message.id}/eml")
    assert original.status_code == 200 and original.data == raw
    assert original.headers["Content-Type"] == "message/rfc822"
    filename = f"{message.ticket.reference}-{message.id}.eml"
    assert original.headers["Content-Disposition"] == f"attachment; filename={filename}"
    assert original.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in _policy(original)


def test_notes_have_no_raw_headers_no_original_and_no_frame(client, db, inbox, admin):
    message = _deliver(inbox, html_mail("<p>Hi</p>"))
    note = Message(tenant_id=inbox.tenant.id, ticket_id=message.ticket_id, direction=Direction.NOTE, text="Internal")
    db.session.add(note)
    db.session.commit()
    for path in ("headers", "eml", "frame"):
        assert client.get(f"{BASE}/messages/{note.id}/{path}").status_code == 404, path
    html = client.get(f"{BASE}/{message.ticket_id}").get_data(as_text=True)
    assert f"/messages/{note.id}/headers" not in html and f"message-frame-{note.id}" not in html


def test_another_tenants_messages_and_attachments_are_404(client, db, inbox, create_tenant, login):
    message = _deliver(inbox, html_mail("<p>Secret</p>", attachments=[("secret.pdf", b"%PDF-1", "application", "pdf")]))
    attachment = message.attachments[0]
    login(create_tenant("rival").owner)
    for slug in ("rival", "acme"):  # through the attacker's own tenant, and the victim's (not a member)
        for path in (f"messages/{message.id}", f"messages/{message.id}/frame", f"messages/{message.id}/frame?images=1",
                     f"messages/{message.id}/headers", f"messages/{message.id}/eml", f"attachments/{attachment.id}"):
            response = client.get(f"/t/{slug}/inbox/{path}", headers={"HX-Request": "true"})
            assert response.status_code == 404, (slug, path)
            assert b"Secret" not in response.data and b"%PDF" not in response.data
