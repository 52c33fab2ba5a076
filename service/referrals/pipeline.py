"""The engine as one object: validate → evaluate → build the referral Bundle, with no I/O per call."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from service.config import unknown_region
from service.errors import Issue, NotFound, ResponseInvalid
from service.fhir.models import validation_issues
from service.questionnaires.catalog import Catalog, QuestionnaireDef, load_catalog
from service.questionnaires.validate import ValidationResult, validate_response
from service.referrals.bundle import (
    ReferralBundles,
    ReferralContext,
    build_referral_bundles,
    contained_patient,
    logical_subject,
)
from service.registry import Practice
from service.rules.evaluate import Evaluation, evaluate_rules
from service.rules.loader import Ruleset, load_rulesets
from service.texts import texts

PRACTICE_ZONE = ZoneInfo("Europe/Amsterdam")


def reference_date(qr: dict[str, Any], now: datetime | None = None) -> date:
    """The day windows are measured from: the day the response was authored, else today in NL."""
    authored = qr.get("authored")
    if isinstance(authored, str) and len(authored) >= 10:
        try:
            return date.fromisoformat(authored[:10])
        except ValueError:
            pass
    return (now or datetime.now(PRACTICE_ZONE)).astimezone(PRACTICE_ZONE).date()


@dataclass(frozen=True, kw_only=True)
class Extraction:
    validation: ValidationResult
    evaluation: Evaluation
    bundles: ReferralBundles  # the practice's record and one Bundle per external destination

    @property
    def bundle(self) -> dict[str, Any]:
        """All of it as one Bundle (SDC $extract's answer): see ReferralBundles.as_collection."""
        return self.bundles.as_collection()


def _refusal(message: str, detail: str, code: str, expression: str, **values: Any) -> ResponseInvalid:
    """A 422 for a response that cannot become referrals: the text keys of its message and of its one issue."""
    issue = Issue.of(texts(detail, **values), code=code, expression=(expression,))
    return ResponseInvalid(texts(message), issues=[issue])


def _check_patient(qr: dict[str, Any]) -> None:
    """The contained Patient the Bundles will carry, checked as its FHIR model: its problems located in the
    response (`QuestionnaireResponse.contained[i]...`)."""
    patient = contained_patient(qr)
    if patient is None:
        return
    at = f"QuestionnaireResponse.contained[{qr['contained'].index(patient)}]"
    issues = [
        replace(i, expression=tuple(at + e.removeprefix("Patient") for e in i.expression))
        for i in validation_issues(patient, "Patient")
    ]
    if issues:
        raise ResponseInvalid(texts("pipeline.not_valid"), issues=issues)


class Engine:
    """Questionnaires and regional rule sets loaded (and checked) once; pure per-response calls."""

    def __init__(self, catalog: Catalog, rulesets: dict[str, Ruleset], region: str, service_version: str):
        if region not in rulesets:
            raise unknown_region(region, rulesets)  # a StartupError naming KS_REGION and the known regions
        self.catalog = catalog
        self.rulesets = rulesets
        self.region = region
        self.context = ReferralContext(service_version=service_version)

    @classmethod
    def from_folders(cls, questionnaires: Path, mappings: Path, region: str, service_version: str) -> Engine:
        catalog = load_catalog(questionnaires)
        return cls(catalog, load_rulesets(mappings, catalog), region, service_version)

    def ruleset(self, region: str | None = None) -> Ruleset:
        region = region or self.region
        try:
            return self.rulesets[region]
        except KeyError:
            raise NotFound(texts("pipeline.unknown_region", region=region)) from None

    def validate(self, qr: dict[str, Any], *, structural: bool = True) -> ValidationResult:
        return validate_response(qr, self.catalog, structural=structural)

    def _valid(self, qr: dict[str, Any], structural: bool) -> tuple[ValidationResult, QuestionnaireDef]:
        result = self.validate(qr, structural=structural)
        if not result.ok:
            raise ResponseInvalid(texts("pipeline.not_valid"), issues=list(result.issues))
        assert result.questionnaire is not None  # a response that passed validation has its Questionnaire
        return result, result.questionnaire

    def evaluate(
        self, qr: dict[str, Any], region: str | None = None, *, structural: bool = False
    ) -> tuple[ValidationResult, Evaluation]:
        """Validate (ResponseInvalid with every problem) and evaluate the region's rules."""
        result, qdef = self._valid(qr, structural)
        ruleset = self.ruleset(region)
        if self.catalog.find(ruleset.questionnaire) is not qdef:
            raise ResponseInvalid(
                texts("pipeline.other_questionnaire", ruleset=ruleset, questionnaire=qr.get("questionnaire"))
            )
        evaluation = evaluate_rules(qr, ruleset, qdef, today=reference_date(qr), index=result.index)
        return result, evaluation

    def extract(
        self,
        qr: dict[str, Any],
        region: str | None = None,
        *,
        structural: bool = False,
        practice: Practice | None = None,
        owner: str = "",
    ) -> Extraction:
        """The referral transaction Bundle for a response (SDC $extract: nothing is written).

        `structural` (for submissions) also checks the whole response as its FHIR model, so nothing
        a FHIR server would refuse is ever stored for sending. `owner`: whose submission (bundle.submission_id)."""
        result, evaluation = self.evaluate(qr, region, structural=structural)
        if qr.get("status") not in ("completed", "amended"):
            raise _refusal(
                "pipeline.not_completed",
                "pipeline.not_completed.status",
                "business-rule",
                "QuestionnaireResponse.status",
                status=qr.get("status"),
            )
        if not isinstance(qr.get("subject"), dict):
            # The element that lacks it: one node.
            raise _refusal("pipeline.no_subject", "pipeline.no_subject.detail", "required", "QuestionnaireResponse")
        qdef = result.questionnaire
        assert qdef is not None  # validated
        if not structural:  # a submission checked the whole response, the patient with it
            _check_patient(qr)
        bundles = build_referral_bundles(qr, evaluation, qdef, self.context, practice=practice, owner=owner)
        if bundles.deliveries and contained_patient(qr) is None and logical_subject(qr) is None:
            # A referral leaving the practice carries the patient's identity and contact details (DESIGN.md,
            # "Patient — identity, contact and language only; conditional create on the BSN"), or at least her BSN.
            # A plain `Patient/<id>` names the practice's record, which the destination does not hold: HAPI refuses
            # it (referential integrity), and a lenient server would store a reference to nobody, or to someone else.
            raise _refusal(
                "pipeline.patient_needed", "pipeline.patient_needed.detail", "required", "QuestionnaireResponse.subject"
            )
        return Extraction(validation=result, evaluation=evaluation, bundles=bundles)
