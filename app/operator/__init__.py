"""The platform operator's view: every tenant's mailbox health, queues and workers per region, and the operator's
own audit trail. Operators are users with ``is_operator``, a platform role apart from tenant roles."""
