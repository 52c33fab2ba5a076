"""Canonical URLs and identifier systems the whole product shares (DOMAIN.md A1, DESIGN.md)."""

from __future__ import annotations

BASE = "https://kansrijke-start.github.io/fhir"

QUESTIONNAIRE_SIGNALERING = f"{BASE}/Questionnaire/kansrijke-start-signalering"

CS_SIGNAL = f"{BASE}/CodeSystem/ks-signal"
CS_LEVEL = f"{BASE}/CodeSystem/ks-level"
CS_REFERRAL = f"{BASE}/CodeSystem/ks-referral"
CS_PHASE = f"{BASE}/CodeSystem/ks-phase"
CS_CONSENT_METHOD = f"{BASE}/CodeSystem/ks-consent-method"
# The recipient's work on a referral's Task (service/referrals/taskflow.py).
CS_TASK_BUSINESS_STATUS = f"{BASE}/CodeSystem/ks-task-business-status"
CS_DECLINE_REASON = f"{BASE}/CodeSystem/ks-decline-reason"
CS_TASK_OUTCOME = f"{BASE}/CodeSystem/ks-task-outcome"
CS_TASK_OUTPUT = f"{BASE}/CodeSystem/ks-task-output"
# BSeR's Task business statuses 2.0…7.0 (HL7/bser input/fsh/codesystems/TaskBusinessStatusCS.fsh).
BSER_BUSINESS_STATUS = "http://hl7.org/fhir/us/bser/CodeSystem/TaskBusinessStatusCS"

# Business identifiers minted by this service.
ID_SUBMISSION = f"{BASE}/NamingSystem/submission"
ID_REFERRAL = f"{BASE}/NamingSystem/referral"
ID_TASK = f"{BASE}/NamingSystem/referral-task"
ID_CONSENT = f"{BASE}/NamingSystem/referral-consent"
ID_MESSAGE = f"{BASE}/NamingSystem/referral-message"  # <Task id>:<version it answers>: one per change
ID_DELIVERY = f"{BASE}/NamingSystem/delivery"  # <submission>:<destination>, one per destination Bundle
NS_DESTINATION = f"{BASE}/NamingSystem/destination"  # tags a destination Bundle with the destination's name
ID_PATIENT = f"{BASE}/NamingSystem/referral-patient"  # only for a patient sent without any identifier

EXT_LEVEL_OVERRIDE = f"{BASE}/StructureDefinition/level-override"
EXT_DECISION_RULE = f"{BASE}/StructureDefinition/decision-rule"
EXT_CONSENT_METHOD = f"{BASE}/StructureDefinition/consent-method"
EXT_TASK_ASSIGNEE = f"{BASE}/StructureDefinition/task-assignee"

# Our own OperationDefinitions (service/data/questionnaires/OperationDefinition-*.json), by operation code.
OPERATION_DEFINITIONS = {
    ("QuestionnaireResponse", "validate"): f"{BASE}/OperationDefinition/QuestionnaireResponse-validate",
    ("QuestionnaireResponse", "evaluate"): f"{BASE}/OperationDefinition/QuestionnaireResponse-evaluate",
    ("QuestionnaireResponse", "extract"): f"{BASE}/OperationDefinition/QuestionnaireResponse-extract",
    ("QuestionnaireResponse", "submit"): f"{BASE}/OperationDefinition/QuestionnaireResponse-submit",
    ("QuestionnaireResponse", "referral-status"): f"{BASE}/OperationDefinition/QuestionnaireResponse-referral-status",
    ("Questionnaire", "populate"): f"{BASE}/OperationDefinition/Questionnaire-populate",
}

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"

# Dutch identifier systems (ANCHORS.md §4.2): emit the URI form, accept the OID form on input.
BSN = "http://fhir.nl/fhir/NamingSystem/bsn"


def smart_security(*, token: str, authorize: str | None = None, description: str | None = None) -> dict:
    """CapabilityStatement.rest.security of a SMART-protected FHIR base: the SMART-on-FHIR service code and, for
    a server with an authorization endpoint, the OAuth endpoints in the oauth-uris extension, which SMART 1.0
    clients (such as fhirclient) read (https://hl7.org/fhir/smart-app-launch/1.0.0/StructureDefinition-oauth-uris.html:
    `authorize` and `token` are both 1..1). Without one (SMART Backend Services only: the API) the extension
    would be invalid, so there is none: Backend Services clients discover the token endpoint at
    .well-known/smart-configuration, as SMART 2.x clients do."""
    security: dict = {
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ]
            }
        ],
    }
    if authorize:
        endpoints = [{"url": "authorize", "valueUri": authorize}, {"url": "token", "valueUri": token}]
        security["extension"] = [
            {"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris", "extension": endpoints}
        ]
    if description:
        security["description"] = description
    return security


AGB_Z = "http://fhir.nl/fhir/NamingSystem/agb-z"
UZI_PERSON = "http://fhir.nl/fhir/NamingSystem/uzi-nr-pers"
URA = "http://fhir.nl/fhir/NamingSystem/ura"
OID_TO_URI = {
    "urn:oid:2.16.840.1.113883.2.4.6.3": BSN,
    "urn:oid:2.16.840.1.113883.2.4.6.1": AGB_Z,
    "urn:oid:2.16.528.1.1007.3.1": UZI_PERSON,
    "urn:oid:2.16.528.1.1007.3.3": URA,
}


def uri_system(system: object) -> object:
    """An identifier system in its URI form: a Dutch OID (OID_TO_URI) as its URI, anything else as it is (a value
    that is no string too: the validator refuses it)."""
    return OID_TO_URI[system] if isinstance(system, str) and system in OID_TO_URI else system


ORGANIZATION_TYPE = "http://nictiz.nl/fhir/NamingSystem/organization-type"

# FHIR terminology used in the referral Bundle.
SCT_REFERRAL_CATEGORY = "3457005"  # SNOMED CT "Patient referral (procedure)"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_CATEGORY = "http://loinc.org"
PROVENANCE_ACTIVITY = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PROVENANCE_AGENT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
