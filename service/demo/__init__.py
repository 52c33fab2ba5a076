"""Invented demo data for `make run` and the tests: a practice, its staff, four patients, the recipients.

Every name, identifier and date here is made up (identifiers use values no real register issues).
Dates are relative to `today`, so the demo stays meaningful: the pregnant patient is 19 at her due
date (teenage pregnancy is suggested), one child is 1 year old, one 5 (outside Kansrijke Start).
"""

from __future__ import annotations

from datetime import date, timedelta

from service.fhir import urls
from service.rules.loader import Ruleset

PRACTICE_AGB = "01999999"
PRACTICE_URA = "90099999"
PRACTICE_NAME = "Huisartsenpraktijk De Linde (demo)"
# The invented practices of the invented mirror history (service/mirror/history.py; `make run`): id, name, AGB, URA.
# The sandbox EHR registers them beside the demo practice so the region's pages show their names, never launched
# for (registry.Practice.invented); their names say they are made up, as the pages' banner does.
INVENTED_PRACTICES = (
    ("demo-praktijk-noord", "Huisartsenpraktijk Noord (verzonnen)", "01999991", "90099991"),
    ("demo-praktijk-zuid", "Huisartsenpraktijk Zuid (verzonnen)", "01999992", "90099992"),
    ("demo-praktijk-oost", "Huisartsenpraktijk Oost (verzonnen)", "01999993", "90099993"),
)
SCT_GP, SCT_NURSE, SCT_ASSISTANT = "62247001", "224565004", "309390008"


def _years_before(day: date, years: int, days: int = 0) -> date:
    try:
        shifted = day.replace(year=day.year - years)
    except ValueError:  # 29 February
        shifted = day.replace(year=day.year - years, day=28)
    return shifted - timedelta(days=days)


def _practitioner(pid: str, family: str, given: str, agb: str) -> dict:
    return {
        "resourceType": "Practitioner",
        "id": pid,
        "active": True,
        "identifier": [{"system": urls.AGB_Z, "value": agb}],
        "name": [{"family": family, "given": [given], "text": f"{given} {family}"}],
    }


def _role(rid: str, practitioner: str, code: str, display: str) -> dict:
    return {
        "resourceType": "PractitionerRole",
        "id": rid,
        "active": True,
        "practitioner": {"reference": f"Practitioner/{practitioner}"},
        "organization": {"reference": "Organization/demo-practice"},
        "code": [{"coding": [{"system": urls.SNOMED, "code": code, "display": display}], "text": display}],
    }


def _patient(pid: str, family: str, given: str, gender: str, birth: date, bsn: str) -> dict:
    return {
        "resourceType": "Patient",
        "id": pid,
        "active": True,
        "identifier": [{"system": urls.BSN, "value": bsn}],
        "name": [{"family": family, "given": [given], "text": f"{given} {family}"}],
        "gender": gender,
        "birthDate": birth.isoformat(),
        # Invented contact details (a 06-number that is not in use; a street that does not exist): they travel
        # with the referral, as a recipient needs them to reach the family.
        "telecom": [{"system": "phone", "value": f"+31 6 0000 {bsn[-4:]}", "use": "mobile"}],
        "address": [
            {
                "use": "home",
                "line": [f"Voorbeeldstraat {int(bsn[-2:])}"],
                "postalCode": "6200 AA",
                "city": "Maastricht",
                "country": "NL",
            }
        ],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "nl"}]}, "preferred": True}],
        "managingOrganization": {"reference": "Organization/demo-practice"},
    }


# Test BSNs: 9 digits that pass the elfproef but are from the range reserved for testing (999xxxxxx).
DEMO_PATIENTS = {
    "demo-preconception": ("Vermeulen", "Sanne", "female", 26, "999990019"),
    "demo-pregnant": ("de Boer", "Lisa", "female", 19, "999990020"),
    "demo-child-1y": ("Bakker", "Noah", "male", 1, "999990032"),
    "demo-child-5y": ("Smit", "Emma", "female", 5, "999990044"),
}
DEMO_USERS = {
    "demo-gp": ("huisarts", "Huisarts (demo)"),
    "demo-poh": ("poh-jeugd", "POH Jeugd (demo)"),
    "demo-assistant": ("doktersassistent", "Doktersassistent (demo)"),
}

# The recipients' staff who sign in to the inbox (/inbox) at the sandbox's OpenID Connect provider
# (/sandbox/idp): their `sub`, name, e-mail and the recipient (maastricht-heuvelland.recipients.yaml) they
# work for. "demo-extern" works for no recipient: the provider knows her, the inbox refuses her. "demo-regio" is the
# region's programme manager: she signs in to the region's mirror figures (/inbox/region), never to a worklist.
DEMO_COORDINATORS = {
    "demo-jgz": {
        "name": "Marieke Hendriks",
        "email": "m.hendriks@jgz.example.invalid",
        "role": "Regiocoördinator JGZ",
        "recipient": "regiocoordinator-jgz",
    },
    "demo-jgz-2": {  # her colleague: a referral is assigned to either, and two at once meet a clear conflict
        "name": "Sanne Vermeulen",
        "email": "s.vermeulen@jgz.example.invalid",
        "role": "Regiocoördinator JGZ",
        "recipient": "regiocoordinator-jgz",
    },
    "demo-nnz": {
        "name": "Yasmina el Idrissi",
        "email": "y.elidrissi@nunietzwanger.example.invalid",
        "role": "Nu Niet Zwanger",
        "recipient": "nu-niet-zwanger",
    },
    "demo-regio": {  # the region's programme manager (registry `role: regio`): the mirror figures, no patient
        "name": "Ingrid Lemmens",
        "email": "i.lemmens@zio.example.invalid",
        "role": "Programmamanager Kansrijke Start (regio)",
        "recipient": "",
        "access": "regio",
    },
    "demo-extern": {
        "name": "Tom Verbeek",
        "email": "t.verbeek@extern.example.invalid",
        "role": "zonder organisatie",
        "recipient": "",
    },
}


def demo_resources(ruleset: Ruleset, today: date) -> list[dict]:
    """The demo record: practice, practitioners and roles, patients, pregnancy, recipients."""
    due = today + timedelta(days=120)
    res: list[dict] = [
        {
            "resourceType": "Organization",
            "id": "demo-practice",
            "active": True,
            "identifier": [{"system": urls.AGB_Z, "value": PRACTICE_AGB}, {"system": urls.URA, "value": PRACTICE_URA}],
            "type": [{"coding": [{"system": urls.ORGANIZATION_TYPE, "code": "Z3", "display": "Huisartspraktijk"}]}],
            "name": PRACTICE_NAME,
        }
    ]
    res += [
        _practitioner("demo-gp-practitioner", "Jansen", "Anna", "01999901"),
        _practitioner("demo-poh-practitioner", "Peters", "Mark", "01999902"),
        _practitioner("demo-assistant-practitioner", "Willems", "Fatima", "01999903"),
        _role("demo-gp", "demo-gp-practitioner", SCT_GP, "Huisarts"),
        _role("demo-poh", "demo-poh-practitioner", SCT_NURSE, "POH Jeugd"),
        _role("demo-assistant", "demo-assistant-practitioner", SCT_ASSISTANT, "Doktersassistent"),
    ]
    return res + _patients(today, due) + _pregnancy(today, due) + recipient_resources(ruleset)


def _patients(today: date, due: date) -> list[dict]:
    """The demo patients, each with today's consultation."""
    res: list[dict] = []
    for pid, (family, given, gender, age, bsn) in DEMO_PATIENTS.items():
        birth = _years_before(today, age, 30)
        if pid == "demo-pregnant":  # 19 at the due date
            birth = _years_before(due, 19, 40)
        res.append(_patient(pid, family, given, gender, birth, bsn))
        res.append(
            {  # today's consultation: what the SMART launcher's encounter picker offers
                "resourceType": "Encounter",
                "id": f"{pid}-consult",
                "status": "in-progress",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                    "display": "ambulatory",
                },
                "subject": {"reference": f"Patient/{pid}"},
                "serviceProvider": {"reference": "Organization/demo-practice"},
                "period": {"start": today.isoformat()},
            }
        )
    return res


def _pregnancy(today: date, due: date) -> list[dict]:
    """demo-pregnant's pregnancy: the condition and the estimated due date (what $populate pre-fills from)."""
    res: list[dict] = []
    res.append(
        {
            "resourceType": "Condition",
            "id": "demo-pregnant-pregnancy",
            "clinicalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
            },
            "code": {
                "coding": [
                    {"system": urls.SNOMED, "code": "77386006", "display": "Pregnancy"},
                    {"system": "http://hl7.org/fhir/sid/icpc-2", "code": "W78", "display": "Zwangerschap bevestigd"},
                ]
            },
            "subject": {"reference": "Patient/demo-pregnant"},
        }
    )
    res.append(
        {
            "resourceType": "Observation",
            "id": "demo-pregnant-due-date",
            "status": "final",
            "code": {"coding": [{"system": urls.LOINC, "code": "11778-8", "display": "Delivery date Estimated"}]},
            "subject": {"reference": "Patient/demo-pregnant"},
            "effectiveDateTime": (today - timedelta(days=60)).isoformat(),
            "valueDateTime": due.isoformat(),
        }
    )
    return res


def recipient_resources(ruleset: Ruleset, destination: str | None = None) -> list[dict]:
    """The recipients' Organizations (and roles) of a region, all or those at one destination: what each
    recipients' server knows of itself."""
    res: list[dict] = []
    for recipient in ruleset.recipients.values():
        if not recipient.organization or (destination is not None and recipient.destination != destination):
            continue
        org = recipient.organization
        res.append(
            {
                "resourceType": "Organization",
                "id": f"recipient-{recipient.id}",
                "active": True,
                "identifier": [recipient.organization_identifier],
                "name": org["name"],
                **(
                    {"type": [{"coding": [{"system": urls.ORGANIZATION_TYPE, "code": org["type"]}]}]}
                    if org.get("type")
                    else {}
                ),
            }
        )
        if recipient.role:
            res.append(
                {
                    "resourceType": "PractitionerRole",
                    "id": f"recipient-{recipient.id}-role",
                    "active": True,
                    "identifier": [recipient.role["identifier"]],
                    "organization": {"reference": f"Organization/recipient-{recipient.id}"},
                    "code": [{"text": recipient.role.get("display", recipient.name.nl)}],
                }
            )
    return res


def demo_bundle(ruleset: Ruleset, today: date, resources: list[dict] | None = None) -> dict:
    """A transaction of PUTs (the whole demo record, or `resources`): loading it twice changes nothing."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{i:08d}-0000-4000-8000-000000000000",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for i, r in enumerate(demo_resources(ruleset, today) if resources is None else resources)
        ],
    }
