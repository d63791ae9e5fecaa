"""Field-level validation errors shared by services, forms and the API, and the app's error pages."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, HTTPException


class FieldErrors(Exception):
    """A service refused its input; ``errors`` maps each field to a localized message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(", ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def collect(**checks: str | None) -> None:
    """Raise ``FieldErrors`` for every check that produced a message."""
    errors = {field: message for field, message in checks.items() if message}
    if errors:
        raise FieldErrors(errors)


HTML_ERROR_PAGES = (400, 403, 404, 405, 413, 429, 500)


def _render_error(error: HTTPException):
    code = error.code or 500
    template = f"errors/{code}.html" if code in HTML_ERROR_PAGES else "errors/generic.html"
    if isinstance(error, CSRFError):
        template = "errors/csrf.html"
    return render_template(template, error=error), code


def register_error_pages(app: Flask) -> None:
    """Portal errors render in the portal's style; ``/api/`` errors are problem+json (see ``app.api.problems``)."""

    def handle(error: HTTPException):
        if request.path.startswith("/api/"):
            from app.api.problems import problem_from_http_exception

            return problem_from_http_exception(error)
        return _render_error(error)

    def handle_unexpected(error: Exception):
        app.logger.exception("unhandled error")
        # A failed statement leaves the session's transaction unusable; the error page must not inherit it.
        from app.extensions import db

        db.session.rollback()
        if request.path.startswith("/api/"):
            from app.api.problems import problem_response

            return problem_response(500)
        return render_template("errors/500.html"), 500

    def handle_field_errors(error: FieldErrors):
        if request.path.startswith("/api/"):
            from app.api.problems import field_problems, problem_response

            return problem_response(422, errors=field_problems(error.errors))
        return render_template("errors/400.html", error=BadRequest(str(error)), details=error.errors), 400

    app.register_error_handler(HTTPException, handle)
    app.register_error_handler(FieldErrors, handle_field_errors)
    app.register_error_handler(Exception, handle_unexpected)
