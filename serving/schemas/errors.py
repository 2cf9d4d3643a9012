"""The error bodies every route shares, and ``responses()``: the statuses a route answers, each with its body.

Two shapes only: ``{"detail": "why"}`` (``ErrorPublic``) for every 4xx and 5xx but 422, and one 422 shape,
``{"detail": [problem, …]}`` (``ValidationErrorPublic``), for a request that fails validation and for a rule of
the domain that refuses it (``serving.app`` turns ``ValidationFailed`` into it).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "enrolment 42 not found"}]})

    detail: str = Field(description="Why the request was refused")


class ProblemPublic(BaseModel):
    loc: list[str | int] = Field(
        description="Where: the part of the request and the field for request validation (['body', 'holder_id']), "
        "the field alone for a rule of the domain (['session_start']); empty when it is the request as a whole"
    )
    msg: str = Field(description="What is wrong")
    type: str = Field(description="The kind of problem (pydantic's error type; value_error for a domain rule)")
    input: Any = Field(default=None, description="The value refused (cut short when long)")
    ctx: dict[str, Any] | None = Field(
        default=None, description="Context: the limit broken, the values allowed, the sessions offered, …"
    )


class ValidationErrorPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"detail": [{"loc": ["query", "k"], "msg": "Input should be less than or equal to 100",
                     "type": "less_than_equal", "input": "500", "ctx": {"le": 100}}]},
        {"detail": [{"loc": ["state"], "msg": "must be one of submitted, accepted, …", "type": "value_error"}]},
    ]})

    detail: list[ProblemPublic]


def problem(loc: list[str | int], msg: str, type_: str = "value_error", **ctx: Any) -> dict[str, Any]:
    """One problem of the 422 shape (what ``ValidationErrorPublic`` lists)."""
    answer: dict[str, Any] = {"loc": loc, "msg": msg, "type": type_}
    if ctx:
        answer["ctx"] = ctx
    return answer


def domain_problems(problems: object, message: str) -> list[dict[str, Any]]:
    """A ``ValidationFailed``'s problems (``{"field", "message", …}``) in the 422 shape; other keys go to ctx."""
    items = problems if isinstance(problems, list) else [problems]
    out = []
    for item in items:
        if not isinstance(item, dict):
            out.append(problem([], str(item)))
            continue
        rest = {k: v for k, v in item.items() if k not in ("field", "message")}
        field = item.get("field")
        out.append(problem([str(field)] if field is not None else [], str(item.get("message", message)), **rest))
    return out or [problem([], message)]


DESCRIPTIONS: dict[int, str] = {
    400: "Missing or malformed Idempotency-Key, or a body that cannot be read",
    401: "No bearer token, or an invalid or expired one",
    403: "The caller's role or identity may not do this",
    404: "No such object (or one the caller may not see)",
    409: "The request clashes with the current state: illegal transition, insufficient funds, already done, "
         "or the same Idempotency-Key still running",
    413: "Request body too large",
    422: "Invalid request (validation), or a rule of the domain refuses it; reuse of an Idempotency-Key with "
         "another request",
    429: "Too many requests; see Retry-After",
    503: "Not available now (index or model not loaded); the detail says why",
}
# A state-changing route: the key, the token, the rules, and the body cap.
WRITE = (400, 401, 403, 404, 409, 413, 422)


def responses(*codes: int, **described: str | dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with its body model and description. ``described`` overrides a
    status's description (``_404="…"``) or its whole entry (a dict)."""
    answer: dict[int | str, dict[str, Any]] = {}
    for code in sorted(set(codes) | {int(k.lstrip("_")) for k in described}):
        entry: dict[str, Any] = {
            "model": ValidationErrorPublic if code == 422 else ErrorPublic,
            "description": DESCRIPTIONS.get(code, "Error"),
        }
        override = described.get(f"_{code}")
        if isinstance(override, str):
            entry["description"] = override
        elif isinstance(override, dict):
            entry.update(override)
        answer[code] = entry
    return answer
