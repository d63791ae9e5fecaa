"""Built-in notification templates: English."""

TEMPLATES = {
    "acknowledgement": (
        "We received your request: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
Hello{% if requester_name %} {{ requester_name }}{% endif %},

thank you for your message. We have received it and opened the ticket
{{ ticket_reference }}:

    {{ ticket_subject }}

We will get back to you as soon as possible. To add anything, simply reply
to this mail and keep [#{{ ticket_reference }}] in the subject.

{% if ticket_url %}
You can follow your request here: {{ ticket_url }}

{% endif %}
Kind regards,
{{ mailbox_name or tenant_name }}
""",
    ),
    "agent_reply": (
        "Re: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
{{ reply_text }}

---
Your request {{ ticket_reference }}: {{ ticket_status }}
{% if ticket_url %}
{{ ticket_url }}
{% endif %}
""",
    ),
    "status_changed": (
        "{{ ticket_status }}: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
Hello{% if requester_name %} {{ requester_name }}{% endif %},

the status of your request {{ ticket_reference }} ("{{ ticket_subject }}")
is now: {{ ticket_status }}.

{% if ticket_url %}
You can see your request here: {{ ticket_url }}

{% endif %}
If you have any further questions, simply reply to this mail.

Kind regards,
{{ mailbox_name or tenant_name }}
""",
    ),
    "escalation": (
        "Escalated: {{ ticket_reference }} {{ ticket_subject }}",
        """\
The ticket {{ ticket_reference }} has been escalated.
{% if reason %}
Reason: {{ reason }}
{% endif %}

Subject:     {{ ticket_subject }}
Requester:   {{ requester_name or requester_email }}
Status:      {{ ticket_status }}
Assigned to: {{ assignee_name or "nobody" }}
{% if created_at %}
Opened:      {{ created_at }}
{% endif %}

{{ ticket_url }}
""",
    ),
    "attachment_withheld": (
        "Attachment not accepted: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
Hello{% if requester_name %} {{ requester_name }}{% endif %},

we have received your message "{{ ticket_subject }}" ({{ ticket_reference }}),
but could not accept these attachments: {{ attachments }}
{% if reason %}
Reason: {{ reason }}
{% endif %}

Attachments that are too large, or of a type we do not accept, are withheld
for security reasons. Please reply to this mail and send the file another
way, for example compressed or as a link.

Kind regards,
{{ mailbox_name or tenant_name }}
""",
    ),
    "reauth_required": (
        "Action needed: connect the mailbox {{ mailbox_address }} again",
        """\
Hello,

the mailbox "{{ mailbox_name }}" ({{ mailbox_address }}) can no longer sign in
to its mail server.
{% if reason %}
Reason: {{ reason }}
{% endif %}

Until it is connected again, no new mail is fetched from it and no replies
can be sent through it. Connect it again here:
{{ mailbox_url }}

Postroom, for {{ tenant_name }}
""",
    ),
    "delivery_failed": (
        "Your reply could not be delivered: {{ ticket_reference }} {{ ticket_subject }}",
        """\
Hello{% if assignee_name %} {{ assignee_name }}{% endif %},

your reply on the ticket {{ ticket_reference }} ("{{ ticket_subject }}")
could not be delivered to {{ recipients or requester_email }}.

Reason: {{ reason }}

Please check the address, or reach the requester another way:
{{ ticket_url }}
""",
    ),
    "invitation": (
        "Invitation to join {{ tenant_name }} on Postroom",
        """\
Hello,

{% if inviter_name %}
{{ inviter_name }} has invited you to join {{ tenant_name }} on Postroom,
where the team answers its service-desk mail.
{% else %}
You have been invited to join {{ tenant_name }} on Postroom, where the team
answers its service-desk mail.
{% endif %}

To accept the invitation, open this link:
{{ invitation_url }}

The link is valid for a limited time. If you did not expect this
invitation, you can ignore this mail.
""",
    ),
    "mailbox_failing": (
        "The mailbox {{ mailbox_address }} keeps failing",
        """\
Hello,

the mailbox "{{ mailbox_name }}" ({{ mailbox_address }}) has failed several
times in a row.
{% if reason %}
Last error: {{ reason }}
{% endif %}

New mail may not reach your service desk until this is fixed. The mailbox's
health and connection log:
{{ mailbox_url }}

Postroom, for {{ tenant_name }}
""",
    ),
    "webhook_disabled": (
        'The webhook {{ webhook_url }} was switched off',
        """\
Hello,

the webhook endpoint {{ webhook_url }} kept failing and was switched off.
{% if reason %}
Why: {{ reason }}
{% endif %}

Events that were still owed to it are kept and can be replayed once the
endpoint works again. Webhook settings and the delivery log:
{{ webhooks_url }}

Postroom, for {{ tenant_name }}
""",
    ),
    "alert_opened": (
        "Alert: {{ alert_title }}",
        """\
Hello,

an alert rule of {{ tenant_name }} found a problem: {{ alert_title }}.

{{ alert_detail }}

You will get another mail when it has cleared. Open alerts and the alert
rules:
{{ alerts_url }}

Postroom, for {{ tenant_name }}
""",
    ),
    "alert_resolved": (
        "Resolved: {{ alert_title }}",
        """\
Hello,

the problem an alert reported has cleared: {{ alert_title }}.

{{ alert_detail }}

Alerts and the alert rules:
{{ alerts_url }}

Postroom, for {{ tenant_name }}
""",
    ),
}
