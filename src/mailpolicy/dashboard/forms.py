"""Form fields made from a resource's own request schemas, and form values made into JSON.

Each field's kind follows the JSON schema of the API's create (or edit) body: a string is a
text box, an enum a select, a boolean a checkbox (a nullable one a yes/no/unset select), an
array of an enum a group of checkboxes, an array of strings one item per line. Nothing is
validated here: the values go to the API as they are, and its answer says what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.datastructures import FormData

# Fields written as paragraphs rather than one line.
_LONG = {"comments", "notes"}


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    kind: str  # text, textarea, int, bool, tristate, select, multi, lines
    required: bool
    options: tuple[str, ...] = ()
    hint: str = ""
    nullable: bool = False  # the body may say null (an edit clears the field)

    def shown(self, value: Any) -> Any:
        """A current value as the input shows it."""
        if self.kind == "lines":
            return "\n".join(value or [])
        if self.kind == "tristate":
            return "" if value is None else ("true" if value else "false")
        if self.kind in {"multi", "bool"}:
            return value
        return "" if value is None else str(value)


# Words a label writes in capitals (or as their owners write them).
_WORDS = {
    "id": "ID",
    "ids": "IDs",
    "ip": "IP",
    "ips": "IPs",
    "url": "URL",
    "urls": "URLs",
    "spf": "SPF",
    "dmarc": "DMARC",
    "dkim": "DKIM",
    "tls": "TLS",
    "o365": "O365",
    "csv": "CSV",
}


def label(name: str) -> str:
    """An API name as a person reads it: `spf_status` is "SPF status"."""
    words = name.replace("_", " ").split(" ")
    shown = [_WORDS.get(word.lower(), word.lower()) for word in words]
    if shown and shown[0] == words[0].lower():
        shown[0] = shown[0].capitalize()
    return " ".join(shown)


def _kind(schema: dict[str, Any]) -> tuple[str, tuple[str, ...], bool]:
    """(kind, options, nullable) of one property's schema."""
    nullable = False
    if "anyOf" in schema:
        kinds = [s for s in schema["anyOf"] if s.get("type") != "null"]
        nullable = len(kinds) < len(schema["anyOf"])
        schema = kinds[0] if kinds else {}
    if "enum" in schema:
        return "select", tuple(str(v) for v in schema["enum"]), nullable
    kind = schema.get("type")
    if kind == "boolean":
        return ("tristate" if nullable else "bool"), (), nullable
    if kind == "integer":
        return "int", (), nullable
    if kind == "array":
        items = schema.get("items", {})
        if "enum" in items:
            return "multi", tuple(str(v) for v in items["enum"]), nullable
        return "lines", (), nullable
    return "text", (), nullable


def fields_of(
    model: type[BaseModel], *, all_optional: bool = False, like: type[BaseModel] | None = None
) -> list[Field]:
    """The form of a request body: required text first, then choices, flags and the rest.
    `like` (an edit's form): a field is shown as that body shows it, so a flag an entry may
    hold unset is a yes/no/unset choice in its edit form too."""
    schema = model.model_json_schema()
    shapes = like.model_json_schema().get("properties", {}) if like else {}
    required = set(schema.get("required", []))
    found = []
    for name, prop in schema.get("properties", {}).items():
        kind, options, nullable = _kind(prop)
        if name in shapes:
            kind, options, _ = _kind(shapes[name])
        if kind == "text" and name in _LONG:
            kind = "textarea"
        hint = str(prop.get("description", ""))
        must = name in required and not all_optional
        found.append(Field(name, label(name), kind, must, options, hint, nullable))
    rank = {"text": 0, "int": 2, "select": 1, "multi": 3, "lines": 3, "bool": 4, "tristate": 5}
    return sorted(
        found,
        key=lambda f: (
            f.kind == "textarea",
            not f.required and f.kind == "text",
            rank.get(f.kind, 6),
        ),
    )


def values_of(fields: list[Field], form: FormData, *, partial: bool = False) -> dict[str, Any]:
    """The JSON body a form's values make. `partial` (an edit): an empty field is sent as
    null where the body admits null (which clears it), and left out (unchanged) elsewhere."""
    body: dict[str, Any] = {}
    for field in fields:
        raw = form.get(field.name)
        text = raw.strip() if isinstance(raw, str) else ""
        if field.kind == "bool":
            body[field.name] = field.name in form
        elif field.kind == "multi":
            body[field.name] = [v for v in form.getlist(field.name) if isinstance(v, str)]
        elif field.kind == "lines":
            body[field.name] = [line.strip() for line in text.splitlines() if line.strip()]
        elif field.kind == "tristate":
            if text in {"true", "false"}:
                body[field.name] = text == "true"
            elif partial and field.nullable:
                body[field.name] = None
        elif field.kind == "int":
            if text:
                body[field.name] = int(text) if text.lstrip("-").isdigit() else text
            elif partial and field.nullable:
                body[field.name] = None
        elif text or field.required:
            body[field.name] = text
        elif partial and field.nullable:
            body[field.name] = None
    return body
