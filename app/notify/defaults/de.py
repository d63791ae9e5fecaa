"""Built-in notification templates: German."""

TEMPLATES = {
    "acknowledgement": (
        "Ihre Anfrage ist bei uns eingegangen: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
Guten Tag{% if requester_name %} {{ requester_name }}{% endif %},

vielen Dank für Ihre Nachricht. Wir haben sie erhalten und unter der
Nummer {{ ticket_reference }} erfasst:

    {{ ticket_subject }}

Wir melden uns so bald wie möglich bei Ihnen. Wenn Sie etwas ergänzen
möchten, antworten Sie einfach auf diese E-Mail und lassen Sie
[#{{ ticket_reference }}] im Betreff stehen.

{% if ticket_url %}
Den Stand Ihrer Anfrage finden Sie hier: {{ ticket_url }}

{% endif %}
Mit freundlichen Grüßen
{{ mailbox_name or tenant_name }}
""",
    ),
    "agent_reply": (
        "Re: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
{{ reply_text }}

---
Ihre Anfrage {{ ticket_reference }}: {{ ticket_status }}
{% if ticket_url %}
{{ ticket_url }}
{% endif %}
""",
    ),
    "status_changed": (
        "{{ ticket_status }}: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
Guten Tag{% if requester_name %} {{ requester_name }}{% endif %},

der Status Ihrer Anfrage {{ ticket_reference }} („{{ ticket_subject }}“)
lautet jetzt: {{ ticket_status }}.

{% if ticket_url %}
Ihre Anfrage finden Sie hier: {{ ticket_url }}

{% endif %}
Wenn Sie noch Fragen haben, antworten Sie einfach auf diese E-Mail.

Mit freundlichen Grüßen
{{ mailbox_name or tenant_name }}
""",
    ),
    "escalation": (
        "Eskaliert: {{ ticket_reference }} {{ ticket_subject }}",
        """\
Das Ticket {{ ticket_reference }} wurde eskaliert.
{% if reason %}
Grund: {{ reason }}
{% endif %}

Betreff:      {{ ticket_subject }}
Anfragende/r: {{ requester_name or requester_email }}
Status:       {{ ticket_status }}
Zugewiesen:   {{ assignee_name or "niemandem" }}
{% if created_at %}
Eröffnet:     {{ created_at }}
{% endif %}

{{ ticket_url }}
""",
    ),
    "attachment_withheld": (
        "Anhang nicht angenommen: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
Guten Tag{% if requester_name %} {{ requester_name }}{% endif %},

Ihre Nachricht „{{ ticket_subject }}“ ({{ ticket_reference }}) ist bei uns
eingegangen, diese Anhänge konnten wir jedoch nicht annehmen:
{{ attachments }}
{% if reason %}
Grund: {{ reason }}
{% endif %}

Anhänge, die zu groß sind oder deren Dateityp wir nicht annehmen, werden
aus Sicherheitsgründen zurückgehalten. Bitte antworten Sie auf diese
E-Mail und senden Sie die Datei auf anderem Weg, zum Beispiel
komprimiert oder als Link.

Mit freundlichen Grüßen
{{ mailbox_name or tenant_name }}
""",
    ),
    "reauth_required": (
        "Handlungsbedarf: Postfach {{ mailbox_address }} neu verbinden",
        """\
Guten Tag,

das Postfach „{{ mailbox_name }}“ ({{ mailbox_address }}) kann sich nicht
mehr bei seinem Mailserver anmelden.
{% if reason %}
Grund: {{ reason }}
{% endif %}

Bis es neu verbunden ist, werden keine neuen E-Mails abgerufen und keine
Antworten darüber versendet. Verbinden Sie es hier neu:
{{ mailbox_url }}

Postroom, für {{ tenant_name }}
""",
    ),
    "delivery_failed": (
        "Ihre Antwort konnte nicht zugestellt werden: {{ ticket_reference }} {{ ticket_subject }}",
        """\
Hallo{% if assignee_name %} {{ assignee_name }}{% endif %},

Ihre Antwort im Ticket {{ ticket_reference }} („{{ ticket_subject }}“)
konnte nicht an {{ recipients or requester_email }} zugestellt werden.

Grund: {{ reason }}

Bitte prüfen Sie die Adresse oder erreichen Sie die anfragende Person
auf anderem Weg:
{{ ticket_url }}
""",
    ),
    "invitation": (
        "Einladung zu {{ tenant_name }} auf Postroom",
        """\
Guten Tag,

{% if inviter_name %}
{{ inviter_name }} hat Sie eingeladen, {{ tenant_name }} auf Postroom
beizutreten. Dort beantwortet das Team die E-Mails seines Service-Desks.
{% else %}
Sie wurden eingeladen, {{ tenant_name }} auf Postroom beizutreten. Dort
beantwortet das Team die E-Mails seines Service-Desks.
{% endif %}

Um die Einladung anzunehmen, öffnen Sie diesen Link:
{{ invitation_url }}

Der Link ist nur begrenzte Zeit gültig. Wenn Sie diese Einladung nicht
erwartet haben, können Sie diese E-Mail ignorieren.
""",
    ),
    "mailbox_failing": (
        "Das Postfach {{ mailbox_address }} schlägt wiederholt fehl",
        """\
Guten Tag,

beim Postfach „{{ mailbox_name }}“ ({{ mailbox_address }}) sind mehrere
Fehler in Folge aufgetreten.
{% if reason %}
Letzter Fehler: {{ reason }}
{% endif %}

Bis das behoben ist, erreichen neue E-Mails Ihren Service-Desk
möglicherweise nicht. Zustand und Verbindungsprotokoll des Postfachs:
{{ mailbox_url }}

Postroom, für {{ tenant_name }}
""",
    ),
    "webhook_disabled": (
        'Der Webhook {{ webhook_url }} wurde abgeschaltet',
        """\
Guten Tag,

der Webhook-Endpunkt {{ webhook_url }} ist wiederholt fehlgeschlagen und
wurde abgeschaltet.
{% if reason %}
Grund: {{ reason }}
{% endif %}

Ereignisse, die noch ausstanden, bleiben erhalten und können erneut gesendet
werden, sobald der Endpunkt wieder funktioniert. Webhook-Einstellungen und
Zustellprotokoll:
{{ webhooks_url }}

Postroom, für {{ tenant_name }}
""",
    ),
    "alert_opened": (
        "Warnung: {{ alert_title }}",
        """\
Guten Tag,

eine Warnregel von {{ tenant_name }} hat ein Problem festgestellt:
{{ alert_title }}.

{{ alert_detail }}

Sobald es behoben ist, erhalten Sie eine weitere E-Mail. Offene Warnungen
und die Warnregeln:
{{ alerts_url }}

Postroom, für {{ tenant_name }}
""",
    ),
    "alert_resolved": (
        "Behoben: {{ alert_title }}",
        """\
Guten Tag,

das Problem, das eine Warnung gemeldet hatte, ist behoben: {{ alert_title }}.

{{ alert_detail }}

Warnungen und Warnregeln:
{{ alerts_url }}

Postroom, für {{ tenant_name }}
""",
    ),
}
