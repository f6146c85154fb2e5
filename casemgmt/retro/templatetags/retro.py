"""Template tags that put retrospective review on pages owned by other modules (the work queue
and the dashboard) without touching their views."""

from __future__ import annotations

from typing import Any

from django import template

from casemgmt.retro import selectors
from casemgmt.retro.views import runs_panel_context

register = template.Library()


@register.inclusion_tag("retro/_queue_link.html", takes_context=True)
def retro_queue_link(context: template.Context) -> dict[str, Any]:
    user = context["request"].user
    return {"count": selectors.open_item_count(user)}


@register.inclusion_tag("retro/_runs_panel.html", takes_context=True)
def retro_runs_panel(context: template.Context) -> dict[str, Any]:
    return runs_panel_context(context["request"].user)
