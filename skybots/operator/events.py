"""How the operator tells of what it did to a Bot: Kubernetes Events, posted through Kopf.

A seam, so that the same reconcile and collect run where no Kopf posts Events (the local
runtime logs them instead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, cast

import kopf

EventType = Literal["Normal", "Warning"]
# (the Bot, Normal or Warning, the reason, the message)
PostEvent = Callable[[dict[str, Any], EventType, str, str], None]


def event_target(bot: dict[str, Any]) -> kopf.Body:
    """The Bot as Kopf's event posting wants it."""
    return kopf.Body(cast("kopf.RawBody", bot))


def kopf_event(bot: dict[str, Any], type_: EventType, reason: str, message: str) -> None:
    """An Event on the Bot, queued for Kopf's poster (inside Kopf's handlers only)."""
    (kopf.warn if type_ == "Warning" else kopf.info)(event_target(bot), reason=reason, message=message)
