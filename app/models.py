"""Imports every model so metadata (migrations, mappers) sees all tables."""

from app.alerts.models import Alert, AlertRule
from app.audit.models import AuditEvent
from app.auth.models import User
from app.connections.models import ConnectionLog, ConnectionTest
from app.dlp.models import DlpRule
from app.health.models import MailboxHour
from app.hooks.models import PushSubscription
from app.inbound.models import FolderCursor, Receipt
from app.mailboxes.models import Mailbox, MailboxAlias
from app.members.models import Invitation
from app.notify.models import NotificationTemplate
from app.oauth.models import OAuthApp, OAuthGrant, OperatorAlert
from app.operator.models import OperatorAction
from app.outbound.models import DeliveryAttempt, OutgoingMail
from app.queues.models import Queue
from app.replies.models import ReplyTemplate
from app.routing.models import RoutingRule
from app.tickets.models import Contact, Message, MessageAttachment, Ticket, TicketEvent
from app.tokens.models import ApiToken
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.models import Membership, Tenant

__all__ = ["Alert", "AlertRule", "ApiToken", "AuditEvent", "ConnectionLog", "ConnectionTest", "Contact",
           "DeliveryAttempt", "DlpRule", "FolderCursor", "Invitation", "Mailbox", "MailboxAlias", "MailboxHour",
           "Membership", "Message",
           "MessageAttachment", "NotificationTemplate", "OAuthApp", "OAuthGrant", "OperatorAction", "OperatorAlert",
           "OutgoingMail", "PushSubscription", "Queue", "Receipt", "ReplyTemplate", "RoutingRule", "Tenant",
           "Ticket", "TicketEvent", "User", "WebhookAttempt", "WebhookDelivery", "WebhookEndpoint"]
