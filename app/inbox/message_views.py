"""Reading one message safely: its HTML in a sandboxed frame, attachments, raw headers and the original mail."""

from __future__ import annotations

import io

from flask import abort, g, make_response, redirect, render_template, request, send_file, url_for

from app.extensions import htmx
from app.inbox import rendering, services
from app.inbox.views import bp
from app.security import set_own_headers
from app.tickets.models import Message, MessageAttachment
from tenants.models import Role
from tenants.resolver import current_role, require_role


@bp.context_processor
def _message_helpers() -> dict:
    role = current_role()
    return {"remote_images": rendering.remote_image_count,
            "may_read_raw": role is not None and role.at_least(Role.ADMIN)}


@bp.route("/messages/<int:message_id>")
def show_message(message_id: int):
    """One message of the thread again, for htmx ("Show images" swaps it); a plain visit goes to its ticket."""
    message = Message.get_by_id_and_tenant(message_id, g.tenant)
    if not htmx or htmx.boosted:
        return redirect(url_for("inbox.show", ticket_id=message.ticket_id, _anchor=f"message-{message.id}"))
    view = services.ticket_view(g.tenant, message.ticket_id)
    item = next(item for item in view.messages if item.message.id == message.id)
    return render_template("inbox/_message.html", item=item, show_images=_images_allowed())


@bp.route("/messages/<int:message_id>/frame")
def show_message_frame(message_id: int):
    message = Message.get_by_id_and_tenant(message_id, g.tenant)
    if not (message.html or "").strip():
        abort(404)
    allowed = _images_allowed()
    rendered = rendering.frame_html(g.tenant, message, allow_remote=allowed)
    response = make_response(render_template("inbox/message_frame.html", message=message, html=rendered.html,
                                             style=rendering.FRAME_STYLE))
    return set_own_headers(response, rendering.frame_headers(allow_remote=allowed))


@bp.route("/attachments/<int:attachment_id>")
def download_attachment(attachment_id: int):
    attachment = MessageAttachment.get_by_id_and_tenant(attachment_id, g.tenant)
    if attachment.withheld_reason:
        return render_template("inbox/message_withheld.html", attachment=attachment), 410
    data = rendering.attachment_data(g.tenant, attachment)
    if data is None:
        abort(404)
    return _download(data, attachment.filename, "application/octet-stream")  # never the sender's claimed type


@bp.route("/messages/<int:message_id>/headers")
@require_role(Role.ADMIN)
def show_message_headers(message_id: int):
    message = Message.get_by_id_and_tenant(message_id, g.tenant)
    if not message.raw_sha256:  # replies and notes were never received: they have no raw headers
        abort(404)
    return render_template("inbox/message_headers.html", message=message)


@bp.route("/messages/<int:message_id>/eml")
@require_role(Role.ADMIN)
def download_message(message_id: int):
    message = Message.get_by_id_and_tenant(message_id, g.tenant)
    raw = rendering.raw_mail(g.tenant, message)
    if raw is None:
        abort(404)
    return _download(raw, f"{message.ticket.reference}-{message.id}.eml", "message/rfc822")


def _images_allowed() -> bool:
    return request.args.get("images") == "1"


def _download(data: bytes, filename: str, mimetype: str):
    """An attachment the browser saves and never renders: RFC 6266 filename (werkzeug), sniffing off, sandboxed."""
    response = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=filename,
                         conditional=False, etag=False)
    response.headers["Content-Length"] = str(len(data))
    return set_own_headers(response, rendering.DOWNLOAD_HEADERS)
