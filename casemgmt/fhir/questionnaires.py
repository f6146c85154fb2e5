"""Da Vinci DTR: the payer's Questionnaire built from a policy version's criteria, the
`$questionnaire-package` answer for a coverage and its orders, and a QuestionnaireResponse read
back as the clinical facts those criteria test (the three-valued engine then judges them).

One question per fact the criteria read that a request sends (derived facts such as the
member's age come from the request itself and are never asked), grouped as the criteria tree
groups them. The Questionnaire is versioned with the policy version, so an answer always names
the edition of the criteria it was given for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleEntrySearch
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.meta import Meta
from fhir.resources.R4B.parameters import Parameters, ParametersParameter
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.questionnaire import (
    Questionnaire,
    QuestionnaireItem,
    QuestionnaireItemAnswerOption,
    QuestionnaireItemEnableWhen,
)
from fhir.resources.R4B.questionnaireresponse import (
    QuestionnaireResponse,
    QuestionnaireResponseItem,
    QuestionnaireResponseItemAnswer,
)
from fhir.resources.R4B.resource import Resource

from casemgmt.fhir.codes import (
    QPACKAGE_BUNDLE,
    QPACKAGE_CONTEXT,
    QPACKAGE_COVERAGE,
    QPACKAGE_ORDER,
    QPACKAGE_OUTCOME,
    QPACKAGE_QUESTIONNAIRE,
    SERVICE_CODE_SYSTEMS,
    Ext,
    Profile,
    System,
    fact_values,
)
from casemgmt.fhir.models import FhirClient
from casemgmt.fhir.parsing import FhirInvalid, FhirProblem, operation_outcome
from casemgmt.kernel.errors import NotFoundError
from policies_app.codes import CPT_RE, HCPCS_RE, code_problem
from policies_app.engine import CriterionNode, VersionData, documented_fact_key
from policies_app.models import (
    CoveragePosition,
    Criterion,
    CriterionNodeType,
    FactDefinition,
    FactType,
    LineOfBusiness,
    PolicyVersion,
    PolicyVersionStatus,
)
from policies_app.selectors import (
    coverage_lookup,
    criteria_facts,
    engine_index,
    governing_version,
    version_data,
    versions_with_content,
)

ITEM_TYPES = {
    FactType.BOOLEAN: "boolean",
    FactType.INTEGER: "integer",
    FactType.NUMBER: "decimal",
    FactType.DATE: "date",
    FactType.TEXT: "string",
    # A list of codes: one string answer per code.
    FactType.CODE_LIST: "string",
}
# Leaves that test a yes/no fact for one answer: in an "all of" group they gate their siblings.
GATE_ANSWERS = {"is_true": True, "is_false": False}
QUESTIONNAIRE_STATUS = {PolicyVersionStatus.PUBLISHED: "active", PolicyVersionStatus.RETIRED: "retired"}
# The orders whose codes say which questionnaire applies, and the element holding each one's code.
ORDER_CODE_ELEMENTS = {
    "ServiceRequest": "code",
    "DeviceRequest": "codeCodeableConcept",
    "MedicationRequest": "medicationCodeableConcept",
}
# Other resources the guide allows as an `order`: accepted, but they name no service to look up.
OTHER_ORDER_TYPES = frozenset(
    {"Appointment", "Encounter", "CommunicationRequest", "NutritionOrder", "SupplyRequest", "VisionPrescription"}
)


# --- the Questionnaire --------------------------------------------------------------------------


def questionnaire_id(policy_id: int) -> str:
    return f"policy-{policy_id}"


def questionnaire_url(*, policy_id: int, base_url: str) -> str:
    """The canonical URL of a policy's questionnaire: one per policy, versioned with its versions."""
    return f"{base_url}/Questionnaire/{questionnaire_id(policy_id)}"


def questionnaire_version(version: PolicyVersion | VersionData) -> str:
    """The policy version's label and id: labels are the editors' words, the id is what is unique."""
    pk = version.pk if isinstance(version, PolicyVersion) else version.version_id
    return f"{version.version_label}-pv{pk}"


def questionnaire_canonical(*, version: PolicyVersion | VersionData, base_url: str) -> str:
    """`url|version`, the version-specific canonical DTR asks for."""
    policy_id = version.policy_id
    return f"{questionnaire_url(policy_id=policy_id, base_url=base_url)}|{questionnaire_version(version)}"


def documented_finding(key: str, text: str) -> FactDefinition:
    """A documented-review criterion as the yes/no fact the engine reads it as (never saved: the
    catalogue holds no row for it, its key is derived from the criterion's words)."""
    return FactDefinition(key=key, label=text, value_type=FactType.BOOLEAN)


def sent_facts() -> dict[str, FactDefinition]:
    """What a request may answer, by key: the catalogue's facts a request sends (not derived from
    the request), and the findings of the documented-review criteria of the policy library."""
    facts = {fact.key: fact for fact in FactDefinition.objects.filter(derived=False)}
    labels = Criterion.objects.filter(node_type=CriterionNodeType.DOCUMENTED).values_list("label", flat=True)
    for label in labels.distinct():
        key = documented_fact_key(label)
        facts.setdefault(key, documented_finding(key, label))
    return facts


def _is_leaf(node: CriterionNode) -> bool:
    return node.node_type in (CriterionNodeType.LEAF, CriterionNodeType.DOCUMENTED)


def _leaf_facts(node: CriterionNode) -> Counter[str]:
    """How many leaves of the subtree read each fact."""
    if _is_leaf(node):
        return Counter({node.fact: 1})
    total: Counter[str] = Counter()
    for child in node.children:
        total += _leaf_facts(child)
    return total


def allowed_answers(fact: FactDefinition) -> dict[str, tuple[Any, str]]:
    """The answers the catalogue allows for a fact, by the code that stands for each in a coding:
    (the value as the fact holds it, its label). Empty when any value of its type is allowed; a
    yes/no fact is always asked as yes or no."""
    if fact.value_type == FactType.BOOLEAN:
        return {}
    allowed: dict[str, tuple[Any, str]] = {}
    for option in fact.allowed_values or []:
        if isinstance(option, dict) and option.get("value") not in (None, ""):
            value = option["value"]
            allowed[str(value)] = (value, str(option.get("label") or value))
    return allowed


def _question(fact: FactDefinition) -> QuestionnaireItem:
    unit = None
    if fact.unit and fact.value_type in (FactType.NUMBER, FactType.INTEGER):
        # Our units are the catalogue's words, not UCUM codes, so the coding carries a display only.
        unit = [Extension(url=Ext.QUESTIONNAIRE_UNIT, valueCoding=Coding(display=fact.unit))]
    allowed = allowed_answers(fact)
    # An answer the catalogue lists is a `choice`, each option a coding of the plan's code system for
    # the fact (R4: a choice item's answers are codings).
    options = [
        QuestionnaireItemAnswerOption(valueCoding=Coding(system=fact_values(fact.key), code=code, display=label))
        for code, (_value, label) in allowed.items()
    ]
    return QuestionnaireItem(
        linkId=fact.key,
        text=fact.label,
        type="choice" if options else ITEM_TYPES[FactType(fact.value_type)],
        repeats=True if fact.value_type == FactType.CODE_LIST else None,
        answerOption=options or None,
        extension=unit,
    )


@dataclass
class _ItemBuilder:
    """Builds the items of one criteria tree: each fact asked once, where the tree first reads it."""

    facts: dict[str, FactDefinition]
    reads: Counter[str]
    placed: set[str] = field(default_factory=set)

    def items(self, node: CriterionNode) -> list[QuestionnaireItem]:
        if node.node_type == CriterionNodeType.DOCUMENTED:
            if node.fact in self.placed:
                return []
            self.placed.add(node.fact)
            return [_question(documented_finding(node.fact, node.label))]
        if node.node_type == CriterionNodeType.LEAF:
            fact = self.facts.get(node.fact)
            if fact is None or fact.key in self.placed:
                return []
            self.placed.add(fact.key)
            return [_question(fact)]
        gates = self.gates(node)
        children: list[QuestionnaireItem] = []
        for child in node.children:
            built = self.items(child)
            if gates and not _is_leaf(child) and self.only_read_inside(child):
                for item in built:
                    item.enableWhen = [
                        QuestionnaireItemEnableWhen(question=fact, operator="=", answerBoolean=answer)
                        for fact, answer in gates
                    ]
                    item.enableBehavior = "all" if len(gates) > 1 else None
            children.extend(built)
        if not children:
            return []
        link = f"criteria.{node.criterion_id}" if node.criterion_id is not None else "criteria.root"
        return [QuestionnaireItem(linkId=link, text=node.label, type="group", item=children)]

    def gates(self, node: CriterionNode) -> list[tuple[str, bool]]:
        """The yes/no leaves of an "all of" group: when one is not met the group is not met,
        whatever its other children say, so those children matter only once it is."""
        if node.node_type != "all_of":
            return []
        return [
            (child.fact, GATE_ANSWERS[child.operator])
            for child in node.children
            if child.operator in GATE_ANSWERS
            and (
                child.node_type == CriterionNodeType.DOCUMENTED
                or (
                    child.node_type == CriterionNodeType.LEAF
                    and child.fact in self.facts
                    and self.facts[child.fact].value_type == FactType.BOOLEAN
                )
            )
        ]

    def only_read_inside(self, node: CriterionNode) -> bool:
        """Whether every fact of the subtree is read nowhere else, so hiding it hides nothing else."""
        return all(self.reads[fact] == count for fact, count in _leaf_facts(node).items())


def questionnaire_items(version: VersionData) -> list[QuestionnaireItem]:
    """The questions a version's criteria ask, grouped by its criteria tree; none without criteria."""
    if version.criteria is None:
        return []
    facts = {fact.key: fact for fact in criteria_facts(version) if not fact.derived}
    return _ItemBuilder(facts=facts, reads=_leaf_facts(version.criteria)).items(version.criteria)


def _effective_period(version: PolicyVersion) -> Period | None:
    days = {"start": version.effective_start, "end": version.effective_end}
    # FHIR dateTime takes a bare date; the model's constructor is typed for datetimes only.
    return Period.model_validate({k: d.isoformat() for k, d in days.items() if d}) if any(days.values()) else None


def questionnaire_for_version(*, version: PolicyVersion, base_url: str) -> Questionnaire:
    """The DTR Questionnaire of a policy version's criteria (no items when they ask nothing)."""
    data = version_data(version)
    policy = version.policy
    return Questionnaire(
        id=questionnaire_id(policy.pk),
        meta=Meta(profile=[Profile.DTR_QUESTIONNAIRE]),
        url=questionnaire_url(policy_id=policy.pk, base_url=base_url),
        identifier=[Identifier(system=System.POLICY_VERSION, value=str(version.pk))],
        version=questionnaire_version(version),
        title=f"{policy.number} {policy.title}".strip() or f"Policy {policy.pk}",
        status=QUESTIONNAIRE_STATUS.get(PolicyVersionStatus(version.status), "draft"),
        subjectType=["Patient"],
        date=version.published_at,
        publisher=policy.payer,
        effectivePeriod=_effective_period(version),
        item=questionnaire_items(data) or None,
    )


def _policy_of(questionnaire: str) -> int | None:
    """The policy id a questionnaire id (`policy-<id>`) names."""
    prefix, _, tail = questionnaire.partition("-")
    return int(tail) if prefix == "policy" and tail.isdigit() and not tail.startswith("0") else None


def questionnaire_version_lookup(*, url: str, version: str, base_url: str, today: date) -> PolicyVersion | None:
    """The policy version a questionnaire canonical names: `version` (`<label>-pv<id>`) when
    given, else the version in effect `today`; None when the URL or version is not one of ours."""
    policy_id = _policy_of(url.rpartition("/Questionnaire/")[2])
    if policy_id is None or url != questionnaire_url(policy_id=policy_id, base_url=base_url):
        return None
    versions = versions_with_content().filter(policy_id=policy_id, status__in=list(QUESTIONNAIRE_STATUS))
    if version:
        pk = version.rpartition("-pv")[2]
        found = versions.filter(pk=int(pk)).first() if pk.isdigit() else None
        return found if found is not None and questionnaire_version(found) == version else None
    current = engine_index().version_in_effect(policy_id, today)
    return versions.filter(pk=current.version_id).first() if current is not None else None


def questionnaire_read(*, questionnaire: str, base_url: str, today: date) -> Questionnaire:
    """`GET Questionnaire/<id>`: a policy's questionnaire as its version in effect today has it.
    NotFoundError when the id is not ours, no version is in effect, or its criteria ask nothing."""
    policy_id = _policy_of(questionnaire)
    url = questionnaire_url(policy_id=policy_id, base_url=base_url) if policy_id is not None else ""
    version = questionnaire_version_lookup(url=url, version="", base_url=base_url, today=today) if url else None
    found = questionnaire_for_version(version=version, base_url=base_url) if version is not None else None
    if found is None or not found.item:
        raise NotFoundError(f"Questionnaire/{questionnaire} is not a questionnaire in effect here.")
    return found


def questionnaire_search(*, url: str, version: str, base_url: str, today: date) -> Bundle:
    """`GET Questionnaire?url=...[&version=...]` (the canonical may carry `|version`): a searchset
    with the questionnaire that canonical names, or none."""
    url, _, in_url = url.partition("|")
    version = version or in_url
    found = questionnaire_version_lookup(url=url, version=version, base_url=base_url, today=today)
    questionnaire = questionnaire_for_version(version=found, base_url=base_url) if found is not None else None
    matches = [questionnaire] if questionnaire is not None and questionnaire.item else []
    return Bundle(
        type="searchset",
        total=len(matches),
        entry=[
            BundleEntry(fullUrl=f"{base_url}/Questionnaire/{q.id}", resource=q, search=BundleEntrySearch(mode="match"))
            for q in matches
        ]
        or None,
    )


# --- a QuestionnaireResponse as clinical facts --------------------------------------------------


def _answer_value(answer: QuestionnaireResponseItemAnswer) -> tuple[str, Any]:
    """The answer's value[x] element name and value."""
    for name in type(answer).model_fields:
        if name.startswith("value") and not name.endswith("__ext"):
            value = getattr(answer, name)
            if value is not None:
                return name, value
    return "", None


def _number(value: Decimal | int, whole: bool) -> int | float | None:
    if whole:
        return int(value) if value == int(value) else None
    return int(value) if isinstance(value, int) else float(value)


def _offered_answer(
    fact: FactDefinition, allowed: dict[str, tuple[Any, str]], element: str, value: Any
) -> tuple[Any, str]:
    """An answer to a `choice` question: one of the options offered, by its coding (or its code as
    text or a number), read back as the value the catalogue lists."""
    if element == "valueCoding":
        system = fact_values(fact.key)
        if value.system and str(value.system) != system:
            return None, f"must be a code of {system}, not of {value.system}"
        code = str(value.code or "")
    elif element in ("valueString", "valueInteger", "valueDecimal"):
        code = str(value)
    else:
        return None, "must be one of the answers offered (valueCoding)"
    if code not in allowed:
        offered = ", ".join(f"{c} ({label})" for c, (_value, label) in allowed.items())
        return None, f"{code!r} is not one of the answers offered: {offered}"
    return allowed[code][0], ""


def _answer_fact(fact: FactDefinition, element: str, value: Any) -> tuple[Any, str]:
    """The python value v1's clinical_facts take for one answer, or the problem with it."""
    allowed = allowed_answers(fact)
    if allowed:
        return _offered_answer(fact, allowed, element, value)
    kind = fact.value_type
    if kind in (FactType.NUMBER, FactType.INTEGER):
        whole = kind == FactType.INTEGER
        expected = "valueInteger" if whole else "valueDecimal, valueInteger"
        if element == "valueQuantity":
            units = {str(u) for u in (value.unit, value.code) if u}
            if fact.unit and units and fact.unit not in units:
                return None, f"must be in {fact.unit}, not {' / '.join(sorted(units))}"
            value, element = value.value, "valueDecimal"
            if value is None:
                return None, "the quantity has no value"
        if element in ("valueInteger", "valueDecimal"):
            number = _number(value, whole)
            if number is not None:
                return number, ""
            return None, "must be a whole number"
        return None, f"must be a number ({expected} or valueQuantity)"
    if kind == FactType.BOOLEAN:
        return (value, "") if element == "valueBoolean" else (None, "must be yes or no (valueBoolean)")
    if kind == FactType.DATE:
        return (value.isoformat(), "") if element == "valueDate" else (None, "must be a date (valueDate)")
    if element == "valueString":
        return str(value), ""
    if element == "valueCoding" and value.code:
        return str(value.code), ""
    return None, "must be text (valueString) or a code (valueCoding)"


def questionnaire_response_facts(
    *, response: QuestionnaireResponse, path: str
) -> tuple[dict[str, Any], list[FhirProblem]]:
    """The clinical facts a QuestionnaireResponse answers, as v1's clinical_facts take them, and
    every problem by its FHIRPath under `path`. A question left unanswered is an unknown fact:
    it is simply absent."""
    known = sent_facts()
    facts: dict[str, Any] = {}
    problems: list[FhirProblem] = []

    def walk(items: Iterable[QuestionnaireResponseItem] | None, at: str) -> None:
        for i, item in enumerate(items or []):
            here = f"{at}.item[{i}]"
            answers = item.answer or []
            if not answers and item.item:
                walk(item.item, here)  # a group
                continue
            fact = known.get(str(item.linkId))
            if fact is None:
                problems.append(
                    FhirProblem(path=f"{here}.linkId", message=f"{item.linkId!r} is not a clinical fact we ask about")
                )
                continue
            if fact.key in facts:
                problems.append(FhirProblem(path=f"{here}.linkId", message=f"{fact.key!r} is answered twice"))
                continue
            if len(answers) > 1 and fact.value_type != FactType.CODE_LIST:
                problems.append(FhirProblem(path=f"{here}.answer", message="takes one answer"))
                continue
            values = []
            for j, answer in enumerate(answers):
                element, value = _answer_value(answer)
                read, problem = _answer_fact(fact, element, value)
                if problem:
                    problems.append(FhirProblem(path=f"{here}.answer[{j}].{element or 'value'}", message=problem))
                else:
                    values.append(read)
                walk(answer.item, f"{here}.answer[{j}]")
            if values and len(values) == len(answers):
                facts[fact.key] = values if fact.value_type == FactType.CODE_LIST else values[0]

    walk(response.item, path)
    return facts, problems


# --- $questionnaire-package -----------------------------------------------------------------------


@dataclass(frozen=True)
class OrderedService:
    code_system: str
    code: str
    day: date
    path: str  # the order's FHIRPath, for the outcome


def _order_date(order: Resource) -> date | None:
    """When the service is to happen: the order's occurrence (or a medication's validity start)."""
    occurrence = getattr(order, "occurrenceDateTime", None)
    period = getattr(order, "occurrencePeriod", None)
    dispense = getattr(order, "dispenseRequest", None)
    if dispense is not None and dispense.validityPeriod is not None:
        period = dispense.validityPeriod
    moment = occurrence or (period.start if period is not None else None)
    if moment is None:
        return None
    return moment.date() if hasattr(moment, "date") else moment


def _line_of_business(coverage: Coverage, client: FhirClient, path: str) -> str:
    """The Coverage's plan class when it names one of our lines of business, else the client's."""
    names = {str(v).lower(): v for v in LineOfBusiness.values} | {
        str(label).lower(): value for value, label in LineOfBusiness.choices
    }
    for cls in coverage.class_fhir or []:
        for said in (cls.value, cls.name):
            if said and str(said).strip().lower() in names:
                return str(names[str(said).strip().lower()])
    if client.line_of_business:
        return client.line_of_business
    raise FhirInvalid(
        [
            FhirProblem(
                path=f"{path}.class",
                message="names no line of business we know ("
                + ", ".join(LineOfBusiness.values)
                + ") and this client has no default one",
            )
        ]
    )


def _order_services(order: Resource, path: str, today: date) -> tuple[list[OrderedService], list[FhirProblem]]:
    element = ORDER_CODE_ELEMENTS[order.get_resource_type()]
    concept: CodeableConcept | None = getattr(order, element, None)
    day = _order_date(order) or today
    services, problems = [], []
    for j, coding in enumerate(concept.coding or [] if concept is not None else []):
        ours = SERVICE_CODE_SYSTEMS.get(str(coding.system or ""))
        if ours is None or not coding.code:
            continue
        code = str(coding.code).strip().upper()
        if ours in ("CPT", "HCPCS"):
            # HCPCS Level I is CPT: EHRs send CPT codes under the HCPCS system, and the shape says which.
            ours = "CPT" if CPT_RE.match(code) else "HCPCS" if HCPCS_RE.match(code) else ours
        problem = code_problem(ours, code)
        if problem:
            problems.append(FhirProblem(path=f"{path}.{element}.coding[{j}].code", message=problem))
        else:
            services.append(OrderedService(code_system=ours, code=code, day=day, path=path))
    if not services and not problems:
        systems = ", ".join(sorted(set(SERVICE_CODE_SYSTEMS)))
        problems.append(
            FhirProblem(path=f"{path}.{element}", message=f"needs a CPT, HCPCS or service type coding ({systems})")
        )
    return services, problems


@dataclass
class _Package:
    base_url: str
    bundles: dict[int, Bundle] = field(default_factory=dict)  # by policy version id
    notes: list[FhirProblem] = field(default_factory=list)

    def note(self, path: str, message: str, *, code: str = "informational", severity: str = "information") -> None:
        self.notes.append(FhirProblem(path=path, message=message, code=code, severity=severity))

    def add(self, version: PolicyVersion, coverage: Coverage, path: str) -> None:
        if version.pk in self.bundles:
            return
        questionnaire = questionnaire_for_version(version=version, base_url=self.base_url)
        if not questionnaire.item:
            self.note(path, f"{questionnaire.title}: its criteria ask nothing the request does not already carry.")
            return
        draft = QuestionnaireResponse(
            status="in-progress",
            questionnaire=questionnaire_canonical(version=version, base_url=self.base_url),
            subject=coverage.beneficiary,
        )
        self.bundles[version.pk] = Bundle(
            meta=Meta(profile=[Profile.DTR_QPACKAGE_BUNDLE]),
            type="collection",
            entry=[
                BundleEntry(fullUrl=questionnaire.url, resource=questionnaire),
                BundleEntry(resource=draft),
            ],
        )

    def service(self, service: OrderedService, line_of_business: str, coverage: Coverage) -> None:
        what = f"{service.code_system} {service.code} on {service.day.isoformat()}"
        flags = coverage_lookup(
            code_system=service.code_system,
            code=service.code,
            date_of_service=service.day,
            line_of_business=line_of_business,
        )
        governing = governing_version(flags, line_of_business=line_of_business, day=service.day)
        if governing is None:
            self.note(service.path, f"No policy governs {what}: no documentation is asked for it.")
            return
        if governing.coverage_position != CoveragePosition.MEDICALLY_NECESSARY_WITH_CRITERIA or not governing.criteria:
            self.note(service.path, f"{governing.reference} has no criteria for {what}: no documentation is asked.")
            return
        self.add(versions_with_content().get(pk=governing.version_id), coverage, service.path)

    def canonical(self, canonical: str, coverage: Coverage, path: str, today: date) -> None:
        """A questionnaire asked for by `url|version` (or `url`: the version in effect today)."""
        url, _, wanted = canonical.partition("|")
        version = questionnaire_version_lookup(url=url, version=wanted, base_url=self.base_url, today=today)
        if version is None:
            self.note(path, f"{canonical} is not a questionnaire of ours.", code="not-found", severity="warning")
            return
        self.add(version, coverage, path)


def questionnaire_package(*, parameters: Parameters, client: FhirClient, base_url: str, today: date) -> Parameters:
    """DTR `$questionnaire-package`: a package Bundle per Questionnaire the coverage's orders (and
    the canonicals asked for) need, and an outcome saying why an order needs none. FhirInvalid
    naming every problem in what was sent."""
    root = "Parameters.parameter"
    problems: list[FhirProblem] = []
    coverages: list[tuple[Coverage, str]] = []
    orders: list[tuple[Resource, str]] = []
    canonicals: list[tuple[str, str]] = []
    for i, parameter in enumerate(parameters.parameter or []):
        path = f"{root}[{i}]"
        name, resource = parameter.name, parameter.resource
        if name == QPACKAGE_COVERAGE:
            if isinstance(resource, Coverage):
                coverages.append((resource, f"{path}.resource"))
            else:
                problems.append(FhirProblem(path=f"{path}.resource", message="must be a Coverage"))
        elif name == QPACKAGE_ORDER:
            kind = resource.get_resource_type() if resource is not None else ""
            if resource is not None and (kind in ORDER_CODE_ELEMENTS or kind in OTHER_ORDER_TYPES):
                orders.append((resource, f"{path}.resource"))
            else:
                allowed = ", ".join(sorted([*ORDER_CODE_ELEMENTS, *OTHER_ORDER_TYPES]))
                problems.append(FhirProblem(path=f"{path}.resource", message=f"must be an order: {allowed}"))
        elif name == QPACKAGE_QUESTIONNAIRE:
            if parameter.valueCanonical:
                canonicals.append((str(parameter.valueCanonical), f"{path}.valueCanonical"))
            else:
                problems.append(FhirProblem(path=f"{path}.valueCanonical", message="is required"))
    if len(coverages) != 1:
        problems.append(FhirProblem(path=root, message="needs exactly one coverage parameter with a Coverage resource"))
    names = {parameter.name for parameter in parameters.parameter or []}
    if not names & {QPACKAGE_ORDER, QPACKAGE_QUESTIONNAIRE, QPACKAGE_CONTEXT}:
        problems.append(FhirProblem(path=root, message="needs an order, a questionnaire or a context parameter"))
    services: list[OrderedService] = []
    package = _Package(base_url=base_url)
    for order, path in orders:
        if order.get_resource_type() not in ORDER_CODE_ELEMENTS:
            package.note(
                path,
                "names no service we can look up: send its ServiceRequest, DeviceRequest or MedicationRequest.",
                code="not-supported",
                severity="warning",
            )
            continue
        found, order_problems = _order_services(order, path, today)
        services.extend(found)
        problems.extend(order_problems)
    if problems:
        raise FhirInvalid(problems)
    coverage, coverage_path = coverages[0]
    line_of_business = _line_of_business(coverage, client, coverage_path)
    for service in services:
        package.service(service, line_of_business, coverage)
    for canonical, path in canonicals:
        package.canonical(canonical, coverage, path, today)
    if not orders and not canonicals:
        package.note(
            root,
            "A context alone names no questionnaire here: send the orders.",
            code="not-supported",
            severity="warning",
        )
    out = [ParametersParameter(name=QPACKAGE_BUNDLE, resource=bundle) for bundle in package.bundles.values()]
    if package.notes:
        out.append(ParametersParameter(name=QPACKAGE_OUTCOME, resource=operation_outcome(package.notes)))
    return Parameters(meta=Meta(profile=[Profile.DTR_QPACKAGE_OUTPUT]), parameter=out)
