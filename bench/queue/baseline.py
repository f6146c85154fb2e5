"""The baseline page: the queue's first 50 rows, the same query, rendered bare.

Same middleware, session, sign-in and role check, the same rows (open cases by due time with
their assignee and worst flag); no filter form, no count or paginator, no countdowns, no
actions, no base layout. What the queue costs beyond it is the page's own work.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template import engines

from casemgmt.cases import selectors
from casemgmt.kernel.roles import REVIEWER_ROLES, user_roles

ROWS = 50

# Compiled once, as the cached template loader would do for a file.
_TEMPLATE = engines["django"].from_string(
    "<!doctype html><title>baseline</title><table>"
    "{% for case in cases %}<tr><td>{{ case.case_number }}</td><td>{{ case.due_at|date:'c' }}</td>"
    "<td>{{ case.urgency }}</td><td>{{ case.line_of_business }}</td><td>{{ case.status }}</td>"
    "<td>{{ case.worst_flag_severity|default:'' }} {{ case.worst_flag_kind|default:'' }}</td>"
    "<td>{{ case.assignee.username|default:'' }}</td></tr>{% endfor %}</table>"
)


@login_required
def baseline(request: HttpRequest) -> HttpResponse:
    if not (user_roles(request.user) & REVIEWER_ROLES):
        raise PermissionDenied
    cases = list(selectors.queue_rows(selectors.queue_cases(request.user)[:ROWS]))
    return HttpResponse(_TEMPLATE.render({"cases": cases}, request))
