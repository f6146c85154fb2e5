"""Read-only policy pages for reviewers: one version as it stands, and a search of the library.

Editors maintain policies in the admin; these pages only show published (or retired) versions,
which never change, so what a reviewer reads is what a decision will cite.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from casemgmt.kernel.roles import REVIEWER_ROLES, user_roles
from policies_app.models import Criterion, CriterionNodeType, PolicyVersion, PolicyVersionStatus

SEARCH_LIMIT = 20
READABLE_STATUSES = (PolicyVersionStatus.PUBLISHED, PolicyVersionStatus.RETIRED)


def _require_policy_reader(request: HttpRequest) -> None:
    # Nurses, physicians and managers read policies here; editors have the admin.
    if not (user_roles(request.user) & REVIEWER_ROLES):
        raise PermissionDenied("Only reviewers and managers may read policy versions here.")


@dataclass
class CriterionView:
    """A criteria-tree node ready to print: the rule in words and its children."""

    node: Criterion
    children: list[CriterionView] = field(default_factory=list)

    @property
    def rule(self) -> str:
        node = self.node
        if node.node_type == CriterionNodeType.LEAF:
            fact = node.fact.label if node.fact else ""
            value = "" if node.value is None else f" {_value_text(node.value)}"
            return f"{fact} {node.get_operator_display()}{value}".strip()
        if node.node_type == CriterionNodeType.AT_LEAST:
            return f"At least {node.min_met} of the following"
        return str(node.get_node_type_display())


def _value_text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def criteria_tree(version: PolicyVersion) -> list[CriterionView]:
    nodes = list(Criterion.objects.filter(version=version).select_related("fact"))
    views = {node.pk: CriterionView(node) for node in nodes}
    roots: list[CriterionView] = []
    by_parent: dict[int | None, list[CriterionView]] = defaultdict(list)
    for node in sorted(nodes, key=lambda n: (n.position, n.pk)):
        by_parent[node.parent_id].append(views[node.pk])
    for parent_id, children in by_parent.items():
        if parent_id is None:
            roots.extend(children)
        elif parent_id in views:
            views[parent_id].children.extend(children)
    return roots


@login_required
@require_GET
def version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    _require_policy_reader(request)
    version = (
        PolicyVersion.objects.filter(pk=version_id, status__in=READABLE_STATUSES)
        .select_related("policy")
        .prefetch_related("codes", "terms")
        .first()
    )
    if version is None:
        raise Http404("No such published policy version.")
    return render(request, "policies_app/version_detail.html", {"version": version, "criteria": criteria_tree(version)})


def published_versions_matching(query: str) -> QuerySet[PolicyVersion]:
    """Published versions whose policy number or title contains the query, newest first."""
    query = query.strip()
    if not query:
        return PolicyVersion.objects.none()
    return (
        PolicyVersion.objects.filter(status=PolicyVersionStatus.PUBLISHED)
        .filter(Q(policy__number__icontains=query) | Q(policy__title__icontains=query))
        .select_related("policy")
        .order_by("policy__number", "-effective_start", "-pk")[:SEARCH_LIMIT]
    )


@login_required
@require_GET
def version_search(request: HttpRequest) -> HttpResponse:
    """GET /policies/search?q=: citation choices for the decision form (an htmx partial)."""
    _require_policy_reader(request)
    query = request.GET.get("q", "")[:200]
    # htmx asks for the fragment to drop into the decision form; a plain GET gets a page.
    template = "search_results.html" if request.headers.get("HX-Request") else "search_page.html"
    return render(request, f"policies_app/{template}", {"query": query, "versions": published_versions_matching(query)})
