"""Composing outgoing mail: headers that thread in the customer's mail client and stop loops, the body with the
mailbox's signature and disclaimer. The bytes are made once, when the mail is queued; every attempt sends them."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.headerregistry import Address, Group
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses

from app.outbound.message_ids import LOOP_HEADER, domain_of, mint
from tenants.models import utcnow

MAX_REFERENCES = 20  # RFC 5322 allows any number; long chains get cut by some servers, keep the root and the latest


@dataclass
class Draft:
    """What a mail says and to whom; ``compose`` turns it into bytes."""

    sender: str  # the address it is sent from (the mailbox's)
    sender_name: str
    to: list[tuple[str, str]]  # [(name, address)]
    subject: str
    text: str
    cc: list[tuple[str, str]] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)  # envelope only, never a header
    reply_to: str | None = None
    in_reply_to: str | None = None  # without angle brackets, as stored
    references: list[str] = field(default_factory=list)
    automatic: bool = False  # Auto-Submitted: auto-replied (RFC 3834)
    loop_tag: str = ""  # the tenant's slug, in our loop header
    signature: str = ""
    disclaimer: str = ""
    html: str | None = None

    @property
    def recipients(self) -> list[str]:
        seen: dict[str, None] = {}
        for address in [a for _n, a in self.to] + [a for _n, a in self.cc] + self.bcc:
            if address:
                seen.setdefault(address.strip(), None)
        return list(seen)


@dataclass(frozen=True)
class Composed:
    raw: bytes
    message_id: str  # without angle brackets


def compose(draft: Draft) -> Composed:
    message = EmailMessage()
    message["From"] = Address(draft.sender_name, addr_spec=draft.sender)
    # Mail to a group has everyone in Bcc and nobody in To: the empty group tells clients so (RFC 5322 3.4).
    message["To"] = [_address(name, address) for name, address in draft.to] or Group("undisclosed-recipients")
    if draft.cc:
        message["Cc"] = [_address(name, address) for name, address in draft.cc]
    if draft.reply_to:
        message["Reply-To"] = draft.reply_to
    message["Subject"] = draft.subject
    message["Date"] = format_datetime(utcnow())
    message_id = mint(domain_of(draft.sender))
    message["Message-ID"] = message_id
    if draft.in_reply_to:
        message["In-Reply-To"] = f"<{draft.in_reply_to}>"
    references = _references(draft.references, draft.in_reply_to)
    if references:
        message["References"] = " ".join(f"<{ref}>" for ref in references)
    if draft.automatic:
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"  # Exchange: do not answer this with an out-of-office
    message[LOOP_HEADER] = draft.loop_tag or "postroom"
    # Quoted-printable: an agent's paragraph is one long line, and SMTP allows 998 octets per line (RFC 5321).
    message.set_content(_body(draft), cte="quoted-printable")
    if draft.html:
        message.add_alternative(draft.html, subtype="html", cte="quoted-printable")
    # CRLF, as on the wire: smtplib sends bytes as they are, and a server reads bare-LF mail as one long line.
    return Composed(message.as_bytes(policy=SMTP), message_id.strip("<>"))


def _address(name: str, address: str) -> Address:
    try:
        return Address(name or "", addr_spec=address)
    except (ValueError, IndexError):  # an address the header registry cannot split: let it parse the whole text
        parsed = getaddresses([address])
        return Address(name or "", addr_spec=parsed[0][1] if parsed else address)


def _references(references: list[str], in_reply_to: str | None) -> list[str]:
    chain = [ref for ref in references if ref]
    if in_reply_to and in_reply_to not in chain:
        chain.append(in_reply_to)
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1):]]
    return chain


def _body(draft: Draft) -> str:
    parts = [draft.text.rstrip()]
    if draft.signature.strip():
        parts.append("-- \n" + draft.signature.strip())  # the RFC 3676 signature separator, trailing space and all
    if draft.disclaimer.strip():
        parts.append(draft.disclaimer.strip())
    return "\n\n".join(parts) + "\n"
