"""Read-only policy pages for reviewers: one version as it stands, and a search of the library;
and the public list of services that need prior authorization.

Editors maintain policies in the admin; these pages only show published (or retired) versions,
which never change, so what a reviewer reads is what a decision will cite.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from casemgmt.kernel.roles import REVIEWER_ROLES, user_roles
from policies_app.models import (
    Criterion,
    CriterionNodeType,
    LineOfBusiness,
    PolicyVersion,
    PolicyVersionStatus,
    RequirementRule,
)
from policies_app.selectors import requirement_code_descriptions, requirement_rules_in_effect

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
            said = {str(v["value"]): str(v["label"]) for v in (node.fact.allowed_values if node.fact else [])}
            value = "" if node.value is None else f" {_value_text(node.value, said)}"
            return f"{fact} {node.get_operator_display()}{value}".strip()
        if node.node_type == CriterionNodeType.AT_LEAST:
            return f"At least {node.min_met} of the following"
        return str(node.get_node_type_display())


def _value_text(value: object, said: dict[str, str] | None = None) -> str:
    """A criterion's value in words: an allowed value of its fact by its label."""
    said = said or {}
    if isinstance(value, list):
        return ", ".join(said.get(str(v), str(v)) for v in value)
    if isinstance(value, str):
        return said.get(value, value)
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


# --- the public list of services requiring prior authorization (CMS-0057-F) ------------------

CSV_COLUMNS = [
    "Code system",
    "Code or range",
    "Description",
    "Diagnoses",
    "Line of business",
    "Requirement",
    "Effective from",
    "Effective to",
    "Policy",
]


@dataclass(frozen=True)
class RequirementRow:
    code_system: str
    codes: str
    description: str
    diagnoses: str
    line_of_business: str
    requirement: str
    effective_start: date
    effective_end: date | None
    policy_number: str


def requirement_rows(rules: Iterable[RequirementRule], day: date) -> list[RequirementRow]:
    rules = list(rules)
    descriptions = requirement_code_descriptions(rules, day)
    return [
        RequirementRow(
            code_system=rule.get_code_system_display() if rule.code_system else "",
            codes=(f"{rule.code_start}\u2013{rule.code_end}" if rule.code_end else rule.code_start)
            or "Every other service (plan-wide default)",
            description=descriptions.get(rule.pk, ""),
            diagnoses=", ".join(rule.diagnosis_codes),
            line_of_business=rule.get_line_of_business_display() if rule.line_of_business else "All lines of business",
            requirement=rule.get_requirement_display(),
            effective_start=rule.effective_start,
            effective_end=rule.effective_end,
            policy_number=rule.policy.number if rule.policy is not None else "",
        )
        for rule in rules
    ]


def _requirements_request(request: HttpRequest) -> tuple[date, str, str]:
    """(today, the chosen line of business or "", a problem with the request or "")."""
    line_of_business = request.GET.get("line_of_business", "")
    if line_of_business and line_of_business not in LineOfBusiness.values:
        return timezone.localdate(), "", f"line_of_business: unknown line of business {line_of_business[:40]!r}"
    return timezone.localdate(), line_of_business, ""


@require_GET
def requirements_list(request: HttpRequest) -> HttpResponse:
    """GET /prior-authorization/requirements/: public, as CMS-0057-F asks plans to publish the list."""
    today, line_of_business, problem = _requirements_request(request)
    rows = (
        []
        if problem
        else requirement_rows(requirement_rules_in_effect(day=today, line_of_business=line_of_business), today)
    )
    return render(
        request,
        "policies_app/requirements_list.html",
        {
            "rows": rows,
            "today": today,
            "line_of_business": line_of_business,
            "lines_of_business": LineOfBusiness.choices,
            "problem": problem,
        },
        status=400 if problem else 200,
    )


def _csv_cell(value: object) -> object:
    # Spreadsheets run a cell beginning with = + - @ as a formula; descriptions come from documents.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


@require_GET
def requirements_csv(request: HttpRequest) -> HttpResponse:
    """GET /prior-authorization/requirements.csv: the same list as CSV."""
    today, line_of_business, problem = _requirements_request(request)
    if problem:
        return HttpResponse(problem, status=400, content_type="text/plain; charset=utf-8")
    rows = requirement_rows(requirement_rules_in_effect(day=today, line_of_business=line_of_business), today)
    suffix = f"-{line_of_business}" if line_of_business else ""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="prior-authorization-requirements{suffix}-{today.isoformat()}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            _csv_cell(v)
            for v in (
                row.code_system,
                row.codes,
                row.description,
                row.diagnoses,
                row.line_of_business,
                row.requirement,
                row.effective_start.isoformat(),
                row.effective_end.isoformat() if row.effective_end else "",
                row.policy_number,
            )
        )
    return response
