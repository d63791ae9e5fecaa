"""Reading RFC 9457 answers in tests."""

PROBLEM = "application/problem+json"


def field_errors(response) -> dict[str, str]:
    """``{pointer: detail}`` of a 422 problem+json answer (and fail clearly on anything else)."""
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return {e["pointer"]: e["detail"] for e in response.json["errors"]}
