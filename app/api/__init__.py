"""The JSON API under ``/api/v1``: bearer tokens fix the tenant; errors are RFC 9457 problem+json."""

from __future__ import annotations

import http

from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from app.api.problems import PROBLEM_JSON, ProblemSchema
from app.extensions import csrf

API_CONFIG = {
    "API_TITLE": "Postroom API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
}


class PostroomApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        """flask-smorest's error responses, documented with the content type they really have: problem+json."""
        for status in http.HTTPStatus:
            response: dict = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

    def _register_error_handlers(self) -> None:
        # app.errors handles every HTTPException: problem+json under /api/, HTML pages elsewhere.
        pass


api = PostroomApi()


def init_api(app: Flask) -> None:
    from app.api import (
        accounts,
        alerts,
        audit,
        contacts,
        dlp,
        health,
        jobs,
        mailboxes,
        members,
        notification_templates,
        oauth_apps,
        outbox,
        quarantine,
        queues,
        reply_templates,
        rules,
        tenant,
        ticket_actions,
        ticket_bulk,
        tickets,
        tokens,
        trace,
        webhooks,
    )

    for key, value in API_CONFIG.items():
        app.config.setdefault(key, value)
    api.init_app(app, spec_kwargs={"components": {"securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer", "description": "A tenant API token (prt_...)"}}},
        "security": [{"bearer": []}]})
    for module in (accounts, tenant, members, tokens, mailboxes, queues, tickets, quarantine, jobs, audit, rules,
                   contacts, webhooks, dlp, notification_templates, ticket_actions, ticket_bulk, reply_templates,
                   oauth_apps, health, outbox, trace, alerts):
        csrf.exempt(module.blp)
        api.register_blueprint(module.blp, url_prefix=f"/api/v1{module.blp.url_prefix or ''}")
