"""The CapabilityStatement at /fhir/r4/metadata: the PAS operations, DTR's questionnaire package,
subscriptions, CRD's CDS Hooks services, and the SMART Backend Services security they need."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fhir.resources.R4B.capabilitystatement import (
    CapabilityStatement,
    CapabilityStatementImplementation,
    CapabilityStatementRest,
    CapabilityStatementRestResource,
    CapabilityStatementRestResourceInteraction,
    CapabilityStatementRestResourceOperation,
    CapabilityStatementRestResourceSearchParam,
    CapabilityStatementRestSecurity,
    CapabilityStatementSoftware,
)
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.extension import Extension

from casemgmt.fhir.codes import (
    DTR,
    FHIR_JSON,
    FHIR_VERSION,
    IMPLEMENTATION_GUIDES,
    OAUTH_URIS,
    PAS,
    PAS_SUBSCRIPTION_TOPIC,
    SEARCH_PARAM_URL,
    SEARCH_PARAM_VERSION,
    SMART_SECURITY,
    SUBSCRIPTION_TOPIC_CANONICAL,
    Profile,
)


def operation(name: str, definition: str) -> CapabilityStatementRestResourceOperation:
    return CapabilityStatementRestResourceOperation(name=name, definition=definition)


def capability_statement(
    *, base_url: str, token_url: str, algorithms: Sequence[str], now: datetime
) -> CapabilityStatement:
    security = CapabilityStatementRestSecurity(
        cors=False,
        service=[CodeableConcept(coding=[Coding(system=SMART_SECURITY, code="SMART-on-FHIR")])],
        description="SMART Backend Services: system/*.read and system/*.write scopes.",
        extension=[Extension(url=OAUTH_URIS, extension=[Extension(url="token", valueUri=token_url)])],
    )
    resources = [
        CapabilityStatementRestResource(
            type="Claim",
            supportedProfile=[Profile.CLAIM, Profile.CLAIM_UPDATE, Profile.CLAIM_INQUIRY],
            operation=[
                operation("submit", f"{PAS}/OperationDefinition/Claim-submit"),
                operation("inquire", f"{PAS}/OperationDefinition/Claim-inquiry"),
            ],
        ),
        CapabilityStatementRestResource(type="ClaimResponse", supportedProfile=[Profile.CLAIM_RESPONSE]),
        CapabilityStatementRestResource(
            type="Questionnaire",
            supportedProfile=[Profile.DTR_QUESTIONNAIRE],
            interaction=[CapabilityStatementRestResourceInteraction(code=code) for code in ("read", "search-type")],
            searchParam=[
                CapabilityStatementRestResourceSearchParam(name="url", type="uri", definition=SEARCH_PARAM_URL),
                CapabilityStatementRestResourceSearchParam(
                    name="version", type="token", definition=SEARCH_PARAM_VERSION
                ),
            ],
            operation=[operation("questionnaire-package", f"{DTR}/OperationDefinition/questionnaire-package")],
        ),
        CapabilityStatementRestResource(
            type="Subscription",
            supportedProfile=[Profile.SUBSCRIPTION],
            extension=[Extension(url=SUBSCRIPTION_TOPIC_CANONICAL, valueCanonical=PAS_SUBSCRIPTION_TOPIC)],
            interaction=[
                CapabilityStatementRestResourceInteraction(code=code) for code in ("create", "read", "update", "delete")
            ],
        ),
    ]
    return CapabilityStatement(
        status="active",
        date=now,
        kind="instance",
        name="CasemgmtPriorAuthorization",
        title="Prior authorization: Da Vinci PAS, CRD and DTR",
        publisher="casemgmt",
        software=CapabilityStatementSoftware(name="casemgmt"),
        implementation=CapabilityStatementImplementation(description="Prior-authorization FHIR API", url=base_url),
        fhirVersion=FHIR_VERSION,
        format=[FHIR_JSON, "json"],
        implementationGuide=list(IMPLEMENTATION_GUIDES),
        rest=[
            CapabilityStatementRest(
                mode="server",
                documentation=(
                    "CRD (CDS Hooks 2.0): discovery at /cds-services, hooks order-select and order-sign. "
                    "Access tokens: SMART Backend Services (client_credentials with a private_key_jwt "
                    f"assertion signed {' or '.join(algorithms)}); see .well-known/smart-configuration."
                ),
                security=security,
                resource=resources,
            )
        ],
    )
