"""Built-in notification templates: Spanish."""

TEMPLATES = {
    "acknowledgement": (
        "Hemos recibido su solicitud: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
Hola{% if requester_name %} {{ requester_name }}{% endif %}:

Gracias por su mensaje. Lo hemos recibido y lo hemos registrado con la
referencia {{ ticket_reference }}:

    {{ ticket_subject }}

Le responderemos lo antes posible. Si desea añadir algo, basta con que
responda a este correo y mantenga [#{{ ticket_reference }}] en el asunto.

{% if ticket_url %}
Puede seguir su solicitud aquí: {{ ticket_url }}

{% endif %}
Atentamente,
{{ mailbox_name or tenant_name }}
""",
    ),
    "agent_reply": (
        "Re: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
{{ reply_text }}

---
Su solicitud {{ ticket_reference }}: {{ ticket_status }}
{% if ticket_url %}
{{ ticket_url }}
{% endif %}
""",
    ),
    "status_changed": (
        "{{ ticket_status }}: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
Hola{% if requester_name %} {{ requester_name }}{% endif %}:

El estado de su solicitud {{ ticket_reference }} («{{ ticket_subject }}»)
ha cambiado a: {{ ticket_status }}.

{% if ticket_url %}
Puede consultar su solicitud aquí: {{ ticket_url }}

{% endif %}
Si tiene alguna otra pregunta, basta con que responda a este correo.

Atentamente,
{{ mailbox_name or tenant_name }}
""",
    ),
    "escalation": (
        "Escalado: {{ ticket_reference }} {{ ticket_subject }}",
        """\
El ticket {{ ticket_reference }} se ha escalado.
{% if reason %}
Motivo: {{ reason }}
{% endif %}

Asunto:       {{ ticket_subject }}
Solicitante:  {{ requester_name or requester_email }}
Estado:       {{ ticket_status }}
Asignado a:   {{ assignee_name or "nadie" }}
{% if created_at %}
Abierto:      {{ created_at }}
{% endif %}

{{ ticket_url }}
""",
    ),
    "attachment_withheld": (
        "Archivo adjunto no aceptado: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
Hola{% if requester_name %} {{ requester_name }}{% endif %}:

Hemos recibido su mensaje «{{ ticket_subject }}» ({{ ticket_reference }}),
pero no hemos podido aceptar estos archivos adjuntos: {{ attachments }}
{% if reason %}
Motivo: {{ reason }}
{% endif %}

Por motivos de seguridad, retenemos los archivos adjuntos demasiado
grandes o de un tipo que no aceptamos. Responda a este correo y envíenos
el archivo de otra forma, por ejemplo comprimido o como enlace.

Atentamente,
{{ mailbox_name or tenant_name }}
""",
    ),
    "reauth_required": (
        "Acción necesaria: vuelva a conectar el buzón {{ mailbox_address }}",
        """\
Hola:

El buzón «{{ mailbox_name }}» ({{ mailbox_address }}) ya no puede iniciar
sesión en su servidor de correo.
{% if reason %}
Motivo: {{ reason }}
{% endif %}

Hasta que se vuelva a conectar, no se recibirán correos nuevos en él ni se
podrán enviar respuestas a través de él. Vuelva a conectarlo aquí:
{{ mailbox_url }}

Postroom, para {{ tenant_name }}
""",
    ),
    "delivery_failed": (
        "No se ha podido entregar su respuesta: {{ ticket_reference }} {{ ticket_subject }}",
        """\
Hola{% if assignee_name %} {{ assignee_name }}{% endif %}:

Su respuesta en el ticket {{ ticket_reference }} («{{ ticket_subject }}»)
no se ha podido entregar a {{ recipients or requester_email }}.

Motivo: {{ reason }}

Compruebe la dirección o póngase en contacto con el solicitante por otro
medio:
{{ ticket_url }}
""",
    ),
    "invitation": (
        "Invitación para unirse a {{ tenant_name }} en Postroom",
        """\
Hola:

{% if inviter_name %}
{{ inviter_name }} le ha invitado a unirse a {{ tenant_name }} en Postroom,
donde el equipo responde al correo de su servicio de asistencia.
{% else %}
Le han invitado a unirse a {{ tenant_name }} en Postroom, donde el equipo
responde al correo de su servicio de asistencia.
{% endif %}

Para aceptar la invitación, abra este enlace:
{{ invitation_url }}

El enlace solo es válido durante un tiempo limitado. Si no esperaba esta
invitación, puede ignorar este correo.
""",
    ),
    "mailbox_failing": (
        "El buzón {{ mailbox_address }} falla repetidamente",
        """\
Hola:

El buzón «{{ mailbox_name }}» ({{ mailbox_address }}) ha fallado varias
veces seguidas.
{% if reason %}
Último error: {{ reason }}
{% endif %}

Hasta que se solucione, es posible que los correos nuevos no lleguen a su
servicio de asistencia. Estado y registro de conexiones del buzón:
{{ mailbox_url }}

Postroom, para {{ tenant_name }}
""",
    ),
    "webhook_disabled": (
        'El webhook {{ webhook_url }} se ha desactivado',
        """\
Hola:

el punto de conexión webhook {{ webhook_url }} ha fallado repetidamente y se
ha desactivado.
{% if reason %}
Motivo: {{ reason }}
{% endif %}

Los eventos pendientes se conservan y podrán reenviarse cuando el punto de
conexión vuelva a funcionar. Configuración de webhooks y registro de entregas:
{{ webhooks_url }}

Postroom, para {{ tenant_name }}
""",
    ),
    "alert_opened": (
        "Alerta: {{ alert_title }}",
        """\
Hola:

una regla de alerta de {{ tenant_name }} ha detectado un problema:
{{ alert_title }}.

{{ alert_detail }}

Recibirá otro correo cuando se haya resuelto. Alertas abiertas y reglas de
alerta:
{{ alerts_url }}

Postroom, para {{ tenant_name }}
""",
    ),
    "alert_resolved": (
        "Resuelto: {{ alert_title }}",
        """\
Hola:

el problema que señaló una alerta se ha resuelto: {{ alert_title }}.

{{ alert_detail }}

Alertas y reglas de alerta:
{{ alerts_url }}

Postroom, para {{ tenant_name }}
""",
    ),
}
