"""Every URL, code system and code the FHIR door reads or writes, written once, as data."""

from __future__ import annotations

from typing import Final

from casemgmt.cases.models import X12_REVIEW_DECISION_REASONS

FHIR_VERSION: Final = "4.0.1"
FHIR_JSON: Final = "application/fhir+json"

PAS: Final = "http://hl7.org/fhir/us/davinci-pas"
PAS_SD: Final = f"{PAS}/StructureDefinition"
CRD: Final = "http://hl7.org/fhir/us/davinci-crd"
DTR: Final = "http://hl7.org/fhir/us/davinci-dtr"
X12: Final = "https://codesystem.x12.org/005010"
BACKPORT: Final = "http://hl7.org/fhir/uv/subscriptions-backport"


def pas_extension(name: str) -> str:
    return f"{PAS_SD}/extension-{name}"


def x12(element: int) -> str:
    """The code system of an X12 005010 data element (306 review action, 1322 certification type...)."""
    return f"{X12}/{element}"


class Profile:
    REQUEST_BUNDLE: Final = f"{PAS_SD}/profile-pas-request-bundle"
    RESPONSE_BUNDLE: Final = f"{PAS_SD}/profile-pas-response-bundle"
    INQUIRY_REQUEST_BUNDLE: Final = f"{PAS_SD}/profile-pas-inquiry-request-bundle"
    INQUIRY_RESPONSE_BUNDLE: Final = f"{PAS_SD}/profile-pas-inquiry-response-bundle"
    CLAIM: Final = f"{PAS_SD}/profile-claim"
    CLAIM_UPDATE: Final = f"{PAS_SD}/profile-claim-update"
    CLAIM_INQUIRY: Final = f"{PAS_SD}/profile-claim-inquiry"
    CLAIM_RESPONSE: Final = f"{PAS_SD}/profile-claimresponse"
    CLAIM_INQUIRY_RESPONSE: Final = f"{PAS_SD}/profile-claiminquiryresponse"
    COMMUNICATION_REQUEST: Final = f"{PAS_SD}/profile-communicationrequest"
    INSURER: Final = f"{PAS_SD}/profile-insurer"
    SUBSCRIPTION: Final = f"{BACKPORT}/StructureDefinition/backport-subscription"
    PAS_SUBSCRIPTION: Final = f"{PAS_SD}/profile-subscription"
    SUBSCRIPTION_STATUS_R4: Final = f"{BACKPORT}/StructureDefinition/backport-subscription-status-r4"
    SUBSCRIPTION_NOTIFICATION_R4: Final = f"{BACKPORT}/StructureDefinition/backport-subscription-notification-r4"
    DTR_QUESTIONNAIRE: Final = f"{DTR}/StructureDefinition/dtr-std-questionnaire"
    DTR_QUESTIONNAIRE_RESPONSE: Final = f"{DTR}/StructureDefinition/dtr-questionnaireresponse"
    DTR_QPACKAGE_OUTPUT: Final = f"{DTR}/StructureDefinition/dtr-qpackage-output-parameters"
    DTR_QPACKAGE_BUNDLE: Final = f"{DTR}/StructureDefinition/DTR-QPackageBundle"


class Ext:
    """Extension URLs."""

    REVIEW_ACTION: Final = pas_extension("reviewAction")
    REVIEW_ACTION_CODE: Final = pas_extension("reviewActionCode")
    REVIEW_ACTION_REASON: Final = pas_extension("reviewActionReason")
    CERTIFICATION_TYPE: Final = pas_extension("certificationType")
    SERVICE_ITEM_REQUEST_TYPE: Final = pas_extension("serviceItemRequestType")
    ITEM_TRACE_NUMBER: Final = pas_extension("itemTraceNumber")
    INFO_CHANGED: Final = pas_extension("infoChanged")
    LEVEL_OF_SERVICE: Final = pas_extension("levelOfServiceCode")
    HOME_HEALTH_CARE: Final = pas_extension("homeHealthCareInformation")
    REQUESTED_SERVICE: Final = pas_extension("requestedService")
    PRODUCT_OR_SERVICE_CODE_END: Final = pas_extension("productOrServiceCodeEnd")
    ITEM_PREAUTH_ISSUE_DATE: Final = pas_extension("itemPreAuthIssueDate")
    ITEM_PREAUTH_PERIOD: Final = pas_extension("itemPreAuthPeriod")
    ITEM_REQUESTED_SERVICE_DATE: Final = pas_extension("itemRequestedServiceDate")
    ITEM_AUTHORIZED_DETAIL: Final = pas_extension("itemAuthorizedDetail")
    AUTHORIZATION_NUMBER: Final = pas_extension("authorizationNumber")
    ADMINISTRATION_REFERENCE_NUMBER: Final = pas_extension("administrationReferenceNumber")
    COMMUNICATED_DIAGNOSIS: Final = pas_extension("communicatedDiagnosis")
    ERROR_FOLLOWUP_ACTION: Final = pas_extension("errorFollowupAction")
    ERROR_ELEMENT: Final = pas_extension("errorElement")
    ERROR_PATH: Final = pas_extension("errorPath")
    CERTIFICATION_ISSUE_DATE: Final = pas_extension("itemCertificationIssueDate")
    CERTIFICATION_EFFECTIVE_DATE: Final = pas_extension("itemCertificationEffectiveDate")
    CERTIFICATION_EXPIRATION_DATE: Final = pas_extension("itemCertificationExpirationDate")
    CERTIFICATION_DATE: Final = pas_extension("certificationDate")
    # The policy version a line's answer rests on (ours: PAS has no element for it).
    POLICY_VERSION: Final = "urn:casemgmt:fhir:StructureDefinition/policy-version"
    CRD_COVERAGE_INFORMATION: Final = f"{CRD}/StructureDefinition/ext-coverage-information"
    QUESTIONNAIRE_UNIT: Final = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
    BACKPORT_FILTER_CRITERIA: Final = f"{BACKPORT}/StructureDefinition/backport-filter-criteria"
    BACKPORT_PAYLOAD_CONTENT: Final = f"{BACKPORT}/StructureDefinition/backport-payload-content"
    BACKPORT_HEARTBEAT_PERIOD: Final = f"{BACKPORT}/StructureDefinition/backport-heartbeat-period"
    # The key a subscription's notifications are signed with (ours), on the creation's answer only.
    SIGNING_SECRET: Final = "urn:casemgmt:fhir:StructureDefinition/notification-signing-secret"


class System:
    """Code systems and identifier systems."""

    REVIEW_ACTION: Final = x12(306)
    # X12 external list 886, health care service review decision reasons (reviewAction.reasonCode):
    # kept beside the plan's table of the codes it uses (cases.models.ReviewReasonCode).
    REVIEW_DECISION_REASON: Final = X12_REVIEW_DECISION_REASONS
    CERTIFICATION_TYPE: Final = x12(1322)
    SERVICE_ITEM_REQUEST_TYPE: Final = x12(1525)
    LEVEL_OF_SERVICE: Final = x12(1338)
    SERVICE_TYPE: Final = x12(1365)
    REJECT_REASON: Final = x12(901)  # AAA03 reject reasons
    FOLLOWUP_ACTION: Final = x12(889)
    NPI: Final = "http://hl7.org/fhir/sid/us-npi"
    ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
    CPT: Final = "http://www.ama-assn.org/go/cpt"
    HCPCS: Final = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
    HCPCS_ALT: Final = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
    PROCESS_PRIORITY: Final = "http://terminology.hl7.org/CodeSystem/processpriority"
    ADJUDICATION: Final = "http://terminology.hl7.org/CodeSystem/adjudication"
    CLAIM_TYPE: Final = "http://terminology.hl7.org/CodeSystem/claim-type"
    PAS_TEMP: Final = f"{PAS}/CodeSystem/PASTempCodes"
    PAS_SUPPORTING_INFO_TYPE: Final = f"{PAS}/CodeSystem/PASSupportingInfoType"
    CASE_NUMBER: Final = "urn:casemgmt:case-number"
    AUTHORIZATION_NUMBER: Final = "urn:casemgmt:authorization-number"
    RESPONSE_BUNDLE: Final = "urn:casemgmt:fhir:response-bundle"
    POLICY_VERSION: Final = "urn:casemgmt:policy-version"
    ISSUE_TYPE: Final = "http://hl7.org/fhir/issue-type"
    COVERAGE_CLASS: Final = "http://terminology.hl7.org/CodeSystem/coverage-class"
    ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    DATA_ABSENT_REASON: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
    # The plan's own code system for the answers a clinical fact allows (one per fact, see fact_values).
    FACT_VALUES: Final = "urn:casemgmt:fhir:CodeSystem/fact-"


def fact_values(key: str) -> str:
    """The code system of the answers the fact catalogue allows for one clinical fact."""
    return f"{System.FACT_VALUES}{key}"


# X12 901 (AAA03) reject reasons the error response uses.
REJECT_SUBSCRIBER_NOT_FOUND: Final = "75"

# X12 1322 certification types.
CERTIFICATION_INITIAL: Final = "I"
CERTIFICATION_CANCEL: Final = "3"

# An inquiry item's productOrService that names no service (data-absent-reason), and the name
# of $inquire's output parameter (one per matching request).
INQUIRY_NO_SERVICE: Final = "not-applicable"
INQUIRE_RETURN: Final = "return"

# X12 1338 levels of service that ask for an expedited review; process priority `stat` does too.
URGENT_LEVELS_OF_SERVICE: Final = frozenset({"U", "03"})
URGENT_PRIORITIES: Final = frozenset({"stat"})

# X12 306 review actions, with the display text the guide uses.
REVIEW_ACTIONS: Final = {
    "A1": "Certified in total",
    "A2": "Certified - partial",
    "A3": "Not Certified",
    "A4": "Pended",
    "A6": "Modified",
    "C": "Cancelled",
    "CT": "Contact Payer",
    "NA": "No Action Required",
}

# The subscription topic PAS notifications are sent on, the filter it defines, and the backport's
# channel and payload content this server sends.
PAS_SUBSCRIPTION_TOPIC: Final = f"{PAS}/SubscriptionTopic/PASSubscriptionTopic"
PAS_FILTER_ORG_IDENTIFIER: Final = "orgIdentifier"
CHANNEL_REST_HOOK: Final = "rest-hook"
PAYLOAD_FULL_RESOURCE: Final = "full-resource"
PAYLOAD_ID_ONLY: Final = "id-only"
PAYLOAD_CONTENTS: Final = (PAYLOAD_FULL_RESOURCE, PAYLOAD_ID_ONLY)
# The shortest heartbeat period taken, in seconds: heartbeats are sent by a task beat runs each minute.
HEARTBEAT_MIN_SECONDS: Final = 60

# Which of our code systems a FHIR coding system is.
SERVICE_CODE_SYSTEMS: Final = {
    System.CPT: "CPT",
    System.HCPCS: "HCPCS",
    System.HCPCS_ALT: "HCPCS",
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets/": "HCPCS",
    System.SERVICE_TYPE: "X12_1365",
}
OUR_SYSTEM_URLS: Final = {"CPT": System.CPT, "HCPCS": System.HCPCS, "X12_1365": System.SERVICE_TYPE}

# The SMART scopes this server grants, by what each allows.
SCOPE_CLAIM_WRITE: Final = "system/Claim.write"
SCOPE_CLAIM_READ: Final = "system/Claim.read"
SCOPE_CLAIMRESPONSE_READ: Final = "system/ClaimResponse.read"
SCOPE_SUBSCRIPTION: Final = "system/Subscription.write"
SCOPE_QUESTIONNAIRE_READ: Final = "system/Questionnaire.read"
SUPPORTED_SCOPES: Final = (
    SCOPE_CLAIM_WRITE,
    SCOPE_CLAIM_READ,
    SCOPE_CLAIMRESPONSE_READ,
    "system/Subscription.read",
    SCOPE_SUBSCRIPTION,
    SCOPE_QUESTIONNAIRE_READ,
    "system/*.read",
    "system/*.write",
)

# SMART Backend Services (SMART App Launch 2.x): how a client proves itself at the token endpoint.
GRANT_CLIENT_CREDENTIALS: Final = "client_credentials"
CLIENT_ASSERTION_TYPE_JWT: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SMART_AUTH_METHODS: Final = ("private_key_jwt",)
SMART_CAPABILITIES: Final = ("client-confidential-asymmetric", "permission-v1")

# DTR $questionnaire-package: its parameters' names (DTR 2.1; 2.2 spells the bundle `packagebundle`).
QPACKAGE_COVERAGE: Final = "coverage"
QPACKAGE_ORDER: Final = "order"
QPACKAGE_QUESTIONNAIRE: Final = "questionnaire"
QPACKAGE_CONTEXT: Final = "context"
QPACKAGE_BUNDLE: Final = "PackageBundle"
QPACKAGE_OUTCOME: Final = "outcome"

# CRD over CDS Hooks 2.0: the FHIR base the Questionnaire canonicals hang from, CRD's code system
# of card types and assertion reasons, its CDS Hooks extension keys, and the Coverage.type codes
# (Source of Payment Typology) whose line of business is certain, longest prefix first.
FHIR_BASE_PATH: Final = "/fhir/r4"
CRD_TEMP: Final = f"{CRD}/CodeSystem/temp"
CRD_CONFIGURATION: Final = "davinci-crd.configuration"
CRD_CONFIGURATION_OPTIONS: Final = "davinci-crd.configuration-options"
CRD_VERSION: Final = "davinci-crd.version"
SOPT: Final = "https://nahdo.org/sopt"
SOPT_LINES_OF_BUSINESS: Final = {
    "11": "medicare_advantage",  # Medicare (managed care)
    "21": "medicaid",  # Medicaid (managed care)
    "22": "medicaid",  # Medicaid (non-managed care)
    "5": "commercial",  # private health insurance
    "6": "commercial",  # Blue Cross/Blue Shield
}
CRD_DETAIL: Final = "urn:casemgmt:fhir:crd-detail"

# The CRD coverage-information extension's codes (CRD 2.1, code system CRD_TEMP): `covered`,
# `pa-needed`, `doc-needed`, and `info-needed` (what the order lacks for a definite answer; it is
# given exactly when an answer is `conditional`). `OTH` is v3 NullFlavor "other", which the guide
# allows in info-needed when `reason` says what is needed.
CRD_COVERED: Final = "covered"
CRD_NOT_COVERED: Final = "not-covered"
CRD_CONDITIONAL: Final = "conditional"
CRD_AUTH_NEEDED: Final = "auth-needed"
CRD_NO_AUTH: Final = "no-auth"
CRD_SATISFIED: Final = "satisfied"
CRD_DOC_CLINICAL: Final = "clinical"
CRD_DOC_WITH_PA: Final = "withpa"
CRD_INFO_PERFORMER: Final = "performer"
CRD_INFO_LOCATION: Final = "location"
CRD_INFO_TIMEFRAME: Final = "timeframe"
CRD_INFO_CONTRACT_WINDOW: Final = "contract-window"
CRD_INFO_OTHER: Final = "OTH"
CRD_INFO_NEEDED: Final = {
    CRD_INFO_PERFORMER: "Performer needed",
    CRD_INFO_LOCATION: "Location needed",
    CRD_INFO_TIMEFRAME: "Timeframe needed",
    CRD_INFO_CONTRACT_WINDOW: "New contract window",
    CRD_INFO_OTHER: "Other",
}

# What the CapabilityStatement names: the security service, the SMART token endpoint's extension,
# the subscription topic it supports, and the guides it implements.
SMART_SECURITY: Final = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS: Final = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SEARCH_PARAM_URL: Final = "http://hl7.org/fhir/SearchParameter/conformance-url"
SEARCH_PARAM_VERSION: Final = "http://hl7.org/fhir/SearchParameter/conformance-version"
SUBSCRIPTION_TOPIC_CANONICAL: Final = f"{BACKPORT}/StructureDefinition/capabilitystatement-subscriptiontopic-canonical"
IMPLEMENTATION_GUIDES: Final = (
    f"{PAS}/ImplementationGuide/hl7.fhir.us.davinci-pas",
    f"{CRD}/ImplementationGuide/hl7.fhir.us.davinci-crd",
    f"{DTR}/ImplementationGuide/hl7.fhir.us.davinci-dtr",
    f"{BACKPORT}/ImplementationGuide/hl7.fhir.uv.subscriptions-backport",
)
