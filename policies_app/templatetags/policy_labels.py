"""Labels for the policy values that pages show from stored snapshots (a citation's JSON, a frozen
citation row), which hold the values, not model instances with get_FOO_display()."""

from __future__ import annotations

from django import template

from policies_app.models import CoveragePosition, LineOfBusiness

register = template.Library()


@register.filter
def coverage_position_label(value: str) -> str:
    """'medically_necessary_with_criteria' -> its label; an unknown value is shown as it is."""
    return str(CoveragePosition(value).label) if value in CoveragePosition.values else value


@register.filter
def line_of_business_label(value: str) -> str:
    return str(LineOfBusiness(value).label) if value in LineOfBusiness.values else value
