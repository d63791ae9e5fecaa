"""Built-in notification templates: French."""

TEMPLATES = {
    "acknowledgement": (
        "Nous avons bien reçu votre demande : {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
Bonjour{% if requester_name %} {{ requester_name }}{% endif %},

Merci pour votre message. Nous l'avons bien reçu et l'avons enregistré
sous la référence {{ ticket_reference }} :

    {{ ticket_subject }}

Nous vous répondrons dans les meilleurs délais. Pour ajouter une
information, répondez simplement à ce message en conservant
[#{{ ticket_reference }}] dans l'objet.

{% if ticket_url %}
Vous pouvez suivre votre demande ici : {{ ticket_url }}

{% endif %}
Cordialement,
{{ mailbox_name or tenant_name }}
""",
    ),
    "agent_reply": (
        "Re: {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
{{ reply_text }}

---
Votre demande {{ ticket_reference }} : {{ ticket_status }}
{% if ticket_url %}
{{ ticket_url }}
{% endif %}
""",
    ),
    "status_changed": (
        "{{ ticket_status }} : {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
Bonjour{% if requester_name %} {{ requester_name }}{% endif %},

Le statut de votre demande {{ ticket_reference }} (« {{ ticket_subject }} »)
est désormais : {{ ticket_status }}.

{% if ticket_url %}
Vous pouvez consulter votre demande ici : {{ ticket_url }}

{% endif %}
Pour toute autre question, répondez simplement à ce message.

Cordialement,
{{ mailbox_name or tenant_name }}
""",
    ),
    "escalation": (
        "Escaladé : {{ ticket_reference }} {{ ticket_subject }}",
        """\
Le ticket {{ ticket_reference }} a été escaladé.
{% if reason %}
Motif : {{ reason }}
{% endif %}

Objet :         {{ ticket_subject }}
Demandeur :     {{ requester_name or requester_email }}
Statut :        {{ ticket_status }}
Attribué à :    {{ assignee_name or "personne" }}
{% if created_at %}
Ouvert le :     {{ created_at }}
{% endif %}

{{ ticket_url }}
""",
    ),
    "attachment_withheld": (
        "Pièce jointe refusée : {{ ticket_subject }} [#{{ ticket_reference }}]",
        """\
Bonjour{% if requester_name %} {{ requester_name }}{% endif %},

Nous avons bien reçu votre message « {{ ticket_subject }} »
({{ ticket_reference }}), mais les pièces jointes suivantes n'ont pas pu
être acceptées : {{ attachments }}
{% if reason %}
Motif : {{ reason }}
{% endif %}

Par mesure de sécurité, les pièces jointes trop volumineuses ou d'un type
que nous n'acceptons pas sont retenues. Merci de répondre à ce message en
nous transmettant le fichier autrement, par exemple compressé ou sous
forme de lien.

Cordialement,
{{ mailbox_name or tenant_name }}
""",
    ),
    "reauth_required": (
        "Action requise : reconnectez la boîte aux lettres {{ mailbox_address }}",
        """\
Bonjour,

La boîte aux lettres « {{ mailbox_name }} » ({{ mailbox_address }}) ne
parvient plus à se connecter à son serveur de messagerie.
{% if reason %}
Motif : {{ reason }}
{% endif %}

Tant qu'elle n'est pas reconnectée, aucun nouveau message n'est relevé et
aucune réponse ne peut être envoyée par son intermédiaire. Reconnectez-la
ici :
{{ mailbox_url }}

Postroom, pour {{ tenant_name }}
""",
    ),
    "delivery_failed": (
        "Votre réponse n'a pas pu être distribuée : {{ ticket_reference }} {{ ticket_subject }}",
        """\
Bonjour{% if assignee_name %} {{ assignee_name }}{% endif %},

Votre réponse au ticket {{ ticket_reference }} (« {{ ticket_subject }} »)
n'a pas pu être distribuée à {{ recipients or requester_email }}.

Motif : {{ reason }}

Vérifiez l'adresse ou contactez le demandeur par un autre moyen :
{{ ticket_url }}
""",
    ),
    "invitation": (
        "Invitation à rejoindre {{ tenant_name }} sur Postroom",
        """\
Bonjour,

{% if inviter_name %}
{{ inviter_name }} vous invite à rejoindre {{ tenant_name }} sur Postroom,
où l'équipe traite les messages de son service d'assistance.
{% else %}
Vous êtes invité(e) à rejoindre {{ tenant_name }} sur Postroom, où
l'équipe traite les messages de son service d'assistance.
{% endif %}

Pour accepter l'invitation, ouvrez ce lien :
{{ invitation_url }}

Ce lien n'est valable que pour une durée limitée. Si vous n'attendiez pas
cette invitation, vous pouvez ignorer ce message.
""",
    ),
    "mailbox_failing": (
        "La boîte aux lettres {{ mailbox_address }} échoue de manière répétée",
        """\
Bonjour,

La boîte aux lettres « {{ mailbox_name }} » ({{ mailbox_address }}) a
échoué plusieurs fois de suite.
{% if reason %}
Dernière erreur : {{ reason }}
{% endif %}

Tant que le problème n'est pas résolu, les nouveaux messages risquent de
ne pas parvenir à votre service d'assistance. État et journal de
connexion de la boîte aux lettres :
{{ mailbox_url }}

Postroom, pour {{ tenant_name }}
""",
    ),
    "webhook_disabled": (
        'Le webhook {{ webhook_url }} a été désactivé',
        """\
Bonjour,

le point de terminaison webhook {{ webhook_url }} a échoué à plusieurs
reprises et a été désactivé.
{% if reason %}
Motif : {{ reason }}
{% endif %}

Les événements qui lui restaient dus sont conservés et pourront être renvoyés
dès que le point de terminaison fonctionnera de nouveau. Paramètres des
webhooks et journal des livraisons :
{{ webhooks_url }}

Postroom, pour {{ tenant_name }}
""",
    ),
    "alert_opened": (
        "Alerte : {{ alert_title }}",
        """\
Bonjour,

une règle d'alerte de {{ tenant_name }} a détecté un problème :
{{ alert_title }}.

{{ alert_detail }}

Vous recevrez un autre message lorsqu'il sera résolu. Alertes en cours et
règles d'alerte :
{{ alerts_url }}

Postroom, pour {{ tenant_name }}
""",
    ),
    "alert_resolved": (
        "Résolu : {{ alert_title }}",
        """\
Bonjour,

le problème signalé par une alerte est résolu : {{ alert_title }}.

{{ alert_detail }}

Alertes et règles d'alerte :
{{ alerts_url }}

Postroom, pour {{ tenant_name }}
""",
    ),
}
