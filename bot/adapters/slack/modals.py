"""`bot.forms.Form` as a Slack modal, and a submitted modal back as plain answers."""

from __future__ import annotations

import json
from typing import Any

from bot.forms import Field, Form

CALLBACK_PREFIX = "deskmate.form."
VALUE_ACTION = "value"
TITLE_LIMIT = 24  # Slack's limit for a modal's title and buttons
LABEL_LIMIT = 2000
METADATA_LIMIT = 3000


def _plain(text: str, limit: int) -> dict[str, Any]:
    text = text.strip() or "·"
    return {
        "type": "plain_text",
        "text": text if len(text) <= limit else text[: limit - 1] + "…",
        "emoji": True,
    }


def _element(item: Field, slack_ids: dict[str, str]) -> dict[str, Any]:
    element: dict[str, Any]
    if item.kind == "date":
        element = {"type": "datepicker"}
        if item.initial:
            element["initial_date"] = item.initial
    elif item.kind == "person":
        element = {"type": "users_select"}
        if item.initial and item.initial in slack_ids:
            element["initial_user"] = slack_ids[item.initial]
    elif item.kind == "choice":
        options = [{"text": _plain(label, 75), "value": value} for value, label in item.choices]
        element = {"type": "static_select", "options": options}
        chosen = [o for o in options if o["value"] == item.initial]
        if chosen:
            element["initial_option"] = chosen[0]
    else:
        element = {"type": "plain_text_input", "multiline": item.kind == "long_text"}
        if item.initial:
            element["initial_value"] = item.initial
    element["action_id"] = VALUE_ACTION
    return element


def view(form: Form, cancel: str, slack_ids: dict[str, str]) -> dict[str, Any]:
    """The modal; `slack_ids` maps person ids to member ids for pre-selected people."""
    blocks = []
    for item in form.fields:
        block: dict[str, Any] = {
            "type": "input",
            "block_id": item.name,
            "label": _plain(item.label, LABEL_LIMIT),
            "element": _element(item, slack_ids),
            "optional": not item.required,
        }
        if item.hint:
            block["hint"] = _plain(item.hint, LABEL_LIMIT)
        blocks.append(block)
    metadata = json.dumps(form.payload, ensure_ascii=False)
    if len(metadata) > METADATA_LIMIT:
        raise ValueError(f"form {form.kind}: payload too large for a modal")
    return {
        "type": "modal",
        "callback_id": CALLBACK_PREFIX + form.kind,
        "title": _plain(form.title, TITLE_LIMIT),
        "submit": _plain(form.submit, TITLE_LIMIT),
        "close": _plain(cancel, TITLE_LIMIT),
        "private_metadata": metadata,
        "blocks": blocks,
    }


def answers(state: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """({field: value}, {field: member id}) from a submitted view's state; people are resolved later."""
    values: dict[str, str] = {}
    members: dict[str, str] = {}
    for name, actions in (state.get("values") or {}).items():
        answer = (actions or {}).get(VALUE_ACTION) or {}
        kind = answer.get("type")
        if kind == "datepicker":
            value = answer.get("selected_date")
        elif kind == "users_select":
            if answer.get("selected_user"):
                members[name] = str(answer["selected_user"])
            continue
        elif kind == "static_select":
            value = (answer.get("selected_option") or {}).get("value")
        else:
            value = answer.get("value")
        if value:
            values[name] = str(value)
    return values, members
