"""The one catalogue of the service's own Dutch and English texts: a message key, its Dutch text and its English
text, with `{name}` placeholders (str.format) that both languages share.

- `text(key, lang, **values)`: the text in one language ("nl" by default; "en" for English; anything else is
  Dutch), filled in. A `Text` value fills in each language with its own side (an item's label, another key).
  The templates call it as `t('key', **values)`, bound to the page's language, or `t('key', 'en')` for one
  language on a bilingual page; `both('key')` and `pick(nl, en)` as below (service/web/views.py).
- `texts(key, **values)`: both languages at once, as a `Text` (Dutch, English): what an error carries, because
  the language is chosen where it is shown (an OperationOutcome's details.text, a page), not where it is raised.
- `bilingual(key, **values)`: "Dutch / English" on one line, for what is shown before a language is known
  (the command line, the launch pages).
- `pick(lang, nl, en)`: a text that is *data* — the Questionnaire's items and their translation extension, the
  mappings' YAML, the Meldcode steps' file — in one language (English when asked for and there is one). Data
  texts are not in the catalogue: they come from their files.

Keys are dotted, by where the text is shown: `page.*` the error pages, `api.*` OperationOutcomes of the FHIR
API, `smart.*` the SMART launch, `ehr.*` reading and writing the EHR, `form.*`, `meldcode.*`, `review.*`,
`sent.*` the practice's pages, `his.*` the summary for the HIS, `cli.*` the command line; the engine's
`validate.*` (checking a QuestionnaireResponse), `pipeline.*` (its refusals), `explain.*` (the decision in
words). Every key is used somewhere in service/ (tests/test_texts.py checks this, both languages, and that the
placeholders agree).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, NamedTuple

Lang = Literal["nl", "en"]


def language(lang: str | None) -> Lang:
    """The catalogue's language for `lang`: English for "en", Dutch for everything else (the default)."""
    return "en" if lang == "en" else "nl"


def other_language(lang: str | None) -> Lang:
    """The language a page's switch offers: English on a Dutch page, Dutch on an English one."""
    return "nl" if language(lang) == "en" else "en"


def code_text(keys: Mapping[str, str], code: str, lang: str | None = "nl") -> str:
    """A code's words from a table of the catalogue's keys (a Task status, a delivery state); an unknown code
    as it is."""
    key = keys.get(code)
    return text(key, lang) if key else code


def ours_in_lang(value: str | None, lang: str, keys: Iterable[str]) -> str | None:
    """`value` in `lang` when it is one of the catalogue's `keys` written down in either language (a reason the
    service wrote on a Task in Dutch, shown on an English page); anything else as it is."""
    for key in keys:
        if value in CATALOGUE[key]:
            return text(key, lang)
    return value


# The reasons the service itself writes on a Task it cancels (service/referrals/withdraw.py), in Dutch: shown in the
# page's language (ours_in_lang).
STATUS_REASONS = ("cancel.status_reason", "cancel.status_reason_poh", "withdraw.status_reason")


class Text(NamedTuple):
    """A text in both languages (Dutch, English); a tuple, so it is stored as a two-element list in JSON."""

    nl: str
    en: str

    def in_lang(self, lang: str | None) -> str:
        """The text in `lang`: English when asked for and there is an English text, Dutch otherwise."""
        return self.en if language(lang) == "en" and self.en else self.nl


def _in(lang: Lang, values: dict[str, object]) -> dict[str, object]:
    """The values for one language: a `Text` value (an item's label, another key's texts) gives its own side."""
    return {name: value.in_lang(lang) if isinstance(value, Text) else value for name, value in values.items()}


def text(key: str, lang: str | None = "nl", /, **values: object) -> str:
    """The catalogue's text for `key` in `lang`, with its placeholders filled in from `values` (a `Text` value
    in that language)."""
    chosen = language(lang)
    return CATALOGUE[key][1 if chosen == "en" else 0].format(**_in(chosen, values))


def texts(key: str, /, **values: object) -> Text:
    """The catalogue's text for `key` in Dutch and English, filled in."""
    nl, en = CATALOGUE[key]
    return Text(nl.format(**_in("nl", values)), en.format(**_in("en", values)))


def bilingual(key: str, /, **values: object) -> str:
    """'Dutch / English' on one line."""
    both = texts(key, **values)
    return f"{both.nl} / {both.en}"


def pick(lang: str | None, nl: str, en: str | None) -> str:
    """A data text (not the catalogue's) in `lang`: `en` when English is asked for and there is one, else `nl`."""
    return Text(nl, en or "").in_lang(lang)


# key: (Dutch, English)
CATALOGUE: dict[str, tuple[str, str]] = {
    # ── the practice's error pages (service/errors_render.py, templates/error.html) ─────────────────────────
    "page.400.title": ("Dit formulier is verlopen of ongeldig", "This form has expired or is not valid"),
    "page.400.text": (
        "Ga terug, laad de pagina opnieuw en probeer het nog eens. Uw ingevulde gegevens zijn bewaard tot de laatste keer opslaan of controleren.",
        "Go back, reload the page and try again. What you filled in is kept up to the last save or check.",
    ),
    "page.403.title": ("Versturen mag alleen de huisarts of de POH Jeugd", "Only the GP or the POH Jeugd may send"),
    "page.403.text": (
        "U kunt het formulier invullen en als concept opslaan; de huisarts of POH Jeugd kan het daarna controleren en versturen.",
        "You can fill in the form and save it as a draft; the GP or POH Jeugd can then check and send it.",
    ),
    "page.404.title": ("Deze pagina bestaat niet", "This page does not exist"),
    "page.405.title": ("Dat kan zo niet", "That is not possible like this"),
    "page.500.title": ("Er ging iets mis", "Something went wrong"),
    "page.500.text": (
        "Er ging iets mis in de service. Uw laatst opgeslagen gegevens zijn bewaard. Probeer het opnieuw of neem contact op met de beheerder.",
        "Something went wrong in the service. Your last saved data are kept. Try again or contact the administrator.",
    ),
    "page.back_to_form": ("Ga terug naar het formulier.", "Go back to the form."),
    "page.lost.form": (
        "Controleer het adres, of ga terug naar het formulier.",
        "Check the address, or go back to the form.",
    ),
    "page.lost.inbox": (
        "Controleer het adres, of ga terug naar de werklijst.",
        "Check the address, or go back to the worklist.",
    ),
    "page.lost.figures": (
        "Controleer het adres, of ga terug naar de spiegelinformatie van de regio.",
        "Check the address, or go back to the region's mirror figures.",
    ),
    # the reverse proxy's own page when no instance of the service answers (service/proxy_pages.py, deploy/nginx)
    "page.503.title": ("De service is even niet bereikbaar", "The service cannot be reached for a moment"),
    "page.503.text": (
        "De service is tijdelijk niet bereikbaar. Uw laatst opgeslagen gegevens zijn bewaard. Probeer het over een paar minuten opnieuw; blijft dit zo, neem dan contact op met de beheerder.",
        "The service cannot be reached for the moment. Your last saved data are kept. Try again in a few minutes; if this persists, contact the administrator.",
    ),
    # ── OperationOutcomes of HTTP errors (service/errors_render.py) ─────────────────────────────────────────
    "http.404": ("Niet gevonden.", "Not found."),
    "http.405": ("Deze methode wordt hier niet ondersteund.", "Method not allowed."),
    "http.413": ("Het verzoek is te groot.", "The request body is too large."),
    "http.unexpected": ("Er ging iets mis in de service.", "Internal error."),
    # the reverse proxy's answer on /fhir when no instance answers (service/proxy_pages.py), and the health check's
    "http.unavailable": (
        "De service is tijdelijk niet bereikbaar; probeer het later opnieuw.",
        "The service is temporarily unavailable; try again later.",
    ),
    # requests gunicorn's HTTP parser refuses before the app sees them (service/gunicorn_conf.py)
    "http.400": ("Het HTTP-verzoek is ongeldig ({kind}).", "The HTTP request is malformed ({kind})."),
    "http.403": ("Het verzoek is geweigerd ({kind}).", "The request is forbidden ({kind})."),
    "http.414": ("De regel van het verzoek (de URL) is te lang.", "The request line (the URL) is too long."),
    "http.417": ("Deze Expect-header wordt niet ondersteund.", "This Expect header is not supported."),
    "http.431": (
        "De headers van het verzoek zijn te groot of te talrijk.",
        "The request's header fields are too large or too many.",
    ),
    "http.transfer_coding": (
        "Deze Transfer-Encoding wordt niet ondersteund: stuur de inhoud zonder, of chunked.",
        "This Transfer-Encoding is not supported: send the body as it is, or chunked.",
    ),
    # ── the SMART launch (service/smart/oauth.py, service/smart/views.py) ─────────────────────────────────
    # OAuth 2.0 / SMART error codes (RFC 6749 §4.1.2.1, §5.2) in plain words.
    "smart.oauth.access_denied": ("De toegang is geweigerd door het EPD of door u.", "Access was denied."),
    "smart.oauth.invalid_scope": (
        "De app vroeg om rechten die het EPD niet geeft.",
        "The app asked for permissions the EHR does not grant.",
    ),
    "smart.oauth.invalid_request": (
        "Het EPD begreep het verzoek van de app niet.",
        "The EHR did not understand the app's request.",
    ),
    "smart.oauth.unauthorized_client": (
        "Deze app is niet (meer) toegelaten in het EPD.",
        "This app is not authorised in the EHR.",
    ),
    "smart.oauth.unsupported_response_type": (
        "Het EPD ondersteunt deze manier van inloggen niet.",
        "The EHR does not support this way of logging in.",
    ),
    "smart.oauth.server_error": ("Het EPD had een storing bij het inloggen.", "The EHR had an error during login."),
    "smart.oauth.temporarily_unavailable": (
        "Het EPD is tijdelijk niet beschikbaar.",
        "The EHR is temporarily unavailable.",
    ),
    "smart.oauth.invalid_grant": (
        "De inlogcode is verlopen of al gebruikt.",
        "The login code expired or was already used.",
    ),
    "smart.oauth.invalid_client": ("Het EPD herkende de app niet.", "The EHR did not recognise the app."),
    "smart.unreachable": (
        "Het EPD kon niet worden bereikt om de app te starten. Probeer het over een paar minuten opnieuw.",
        "The EHR could not be reached to start the app. Try again in a few minutes.",
    ),
    "smart.misconfigured": (
        "Het EPD is anders ingericht dan bij de aansluiting van Kansrijke Start is vastgelegd. Neem contact op met uw applicatiebeheerder.",
        "The EHR is set up differently from what was registered for Kansrijke Start. Contact your application manager.",
    ),
    "smart.identity": (
        "De identiteit van de gebruiker kon niet worden gecontroleerd.",
        "The user's identity could not be verified.",
    ),
    "smart.no_pkce": (
        "Het EPD ondersteunt geen veilige PKCE-aanmelding (S256).",
        "The EHR does not support PKCE S256.",
    ),
    "smart.token_unreachable": (
        "Het EPD kon niet worden bereikt om in te loggen.",
        "Could not reach the EHR to log in.",
    ),
    "smart.not_registered": (
        "Dit EPD is niet aangesloten op Kansrijke Start. De app start alleen vanuit een huisartsinformatiesysteem dat uw organisatie bij Kansrijke Start heeft laten registreren. Neem contact op met uw applicatiebeheerder.",
        "This EHR is not registered with Kansrijke Start. The app only starts from an EHR that your organisation has registered with this service. Contact your application manager.",
    ),
    "smart.no_practice": (
        "Uw gebruiker hoort in het EPD niet bij een praktijk die voor Kansrijke Start is geregistreerd.",
        "In the EHR, your user does not belong to a practice registered for Kansrijke Start.",
    ),
    "smart.no_iss": (
        "De app is zonder EPD-adres (iss) gestart. Open haar vanuit het EPD.",
        "The app was started without an EHR address (iss). Open it from the EHR.",
    ),
    "smart.unknown_state": (
        "Deze aanmelding is onbekend of verlopen. Open de app opnieuw vanuit het EPD.",
        "Unknown or expired login state. Open the app again from the EHR.",
    ),
    "smart.other_browser": (
        "Deze aanmelding kwam terug in een andere browser dan waarin ze begon. Open de app opnieuw vanuit het EPD.",
        "This login came back to another browser than the one it started in. Open the app again from the EHR.",
    ),
    "smart.login_refused": ("Het EPD weigerde de aanmelding.", "The EHR refused the login."),
    "smart.no_code": ("Het EPD stuurde geen inlogcode terug.", "The EHR returned no authorization code."),
    # ── the FHIR API's OperationOutcomes (service/api) ─────────────────────────────────────────────────────
    "api.forbidden_scope": (
        "Dit toegangstoken mag dit niet: nodig is {wanted}.",
        "This access token does not allow this: it needs {wanted}.",
    ),
    "api.unauthorized": (
        "Geen of een verlopen toegangstoken: vraag er een aan bij het token-endpoint {token_endpoint} (SMART Backend Services).",
        "Missing or expired access token: get one at {token_endpoint} (SMART Backend Services).",
    ),
    "api.open": (
        "De API is open (KS_API_AUTH=none): er is geen autorisatie om te ontdekken.",
        "The API is open (KS_API_AUTH=none): there is nothing to discover.",
    ),
    "api.populate.context_name": (
        "Een context-parameter zonder naam: geef de naam (part 'name', valueString) van de launch context of variabele.",
        "A context parameter without a name: give the name (part 'name', valueString) of the launch context or variable.",
    ),
    "api.not_acceptable": (
        "Deze service antwoordt alleen in FHIR JSON (application/fhir+json), niet in {asked}.",
        "This service answers in FHIR JSON only (application/fhir+json), not in {asked}.",
    ),
    "api.too_large": (
        "Het verzoek is groter dan {limit} bytes.",
        "The request body is larger than {limit} bytes.",
    ),
    "api.not_found": ("{reference} bestaat niet.", "{reference} does not exist."),
    "api.valid": ("Geen problemen gevonden.", "No problems found."),
    "api.refused": (
        "{name} ({destination}) weigerde de verwijzing (HTTP {status}); ze staat als 'dead letter' in de outbox (item {item}).",
        "Destination {name} ({destination}) refused the referral (HTTP {status}); it is kept as a dead letter in the outbox (item {item}).",
    ),
    "api.json.too_deep_limit": (
        "Het document is te diep genest (meer dan {limit} niveaus).",
        "The document is nested deeper than {limit} levels.",
    ),
    "api.json.media_type": (
        "Stuur FHIR JSON (Content-Type application/fhir+json), niet {mime}.",
        "Send FHIR JSON (Content-Type: application/fhir+json), not {mime}.",
    ),
    "api.json.no_media_type": (
        "Stuur FHIR JSON (Content-Type application/fhir+json), niet zonder Content-Type.",
        "Send FHIR JSON (Content-Type: application/fhir+json), not no content type.",
    ),
    "api.json.not_utf8": ("De inhoud is geen UTF-8.", "The body is not UTF-8."),
    "api.json.too_deep": ("Het document is te diep genest.", "The document is nested too deeply."),
    "api.json.malformed": ("Ongeldige JSON: {error}", "Malformed JSON: {error}"),
    "api.json.not_object": (
        "Verwacht een FHIR-resource (een JSON-object).",
        "Expected a FHIR resource (a JSON object).",
    ),
    "api.json.no_resource_type": ("resourceType ontbreekt.", "resourceType is missing."),
    "api.json.no_parameter": (
        "Parameters zonder parameter {name!r}.",
        "Parameters without a {name!r} parameter holding a resource.",
    ),
    "api.json.wrong_type": ("Verwacht {expected}, kreeg {got!r}.", "Expected {expected}, got {got!r}."),
    "api.json.duplicate_key": (
        "De sleutel {key!r} komt twee keer voor in hetzelfde JSON-object; FHIR JSON staat dat niet toe.",
        "The key {key!r} occurs twice in the same JSON object; FHIR JSON does not allow that.",
    ),
    "api.json.number": (
        "Het getal {number} kan deze service niet weergeven: het is te groot of te klein voor een decimaal getal.",
        "This service cannot represent the number {number}: it is too large or too small for a decimal.",
    ),
    "api.json.surrogate": (
        "De tekst in {location} bevat een losse surrogaat (U+{code}): dat is geen Unicode-teken.",
        "The string at {location} holds a lone surrogate (U+{code}), which is not a Unicode character.",
    ),
    "api.json.control": (
        "De tekst in {location} bevat een stuurteken (U+{code}); FHIR-tekst mag alleen tab, regelovergang en carriage return bevatten.",
        "The string at {location} holds a control character (U+{code}); FHIR strings may hold only tab, line feed and carriage return.",
    ),
    "api.json.not_array": (
        "{location} moet een JSON-array zijn, geen {got}.",
        "{location} must be a JSON array, not {got}.",
    ),
    "api.json.not_an_object": (
        "{location} moet een JSON-object zijn, geen {got}.",
        "{location} must be a JSON object, not {got}.",
    ),
    "api.qr.element_type": (
        "{location} moet een JSON-{expected} zijn, geen {got}.",
        "{location} must be a JSON {expected}, not {got}.",
    ),
    "api.qr.contained_type": (
        "{location} moet een bekend FHIR-resourcetype zijn, niet {got}.",
        "{location} must be a known FHIR resource type, not {got}.",
    ),
    "api.search.unknown": (
        "Onbekende zoekparameter(s) {names} (Prefer: handling=strict); deze zoekactie kent {known}.",
        "Unknown search parameter(s) {names} (Prefer: handling=strict); this search knows {known}.",
    ),
    "api.validate.mode_unknown": (
        "Onbekende mode {mode!r}: een van {modes}.",
        "Unknown mode {mode!r}: one of {modes}.",
    ),
    "api.validate.mode_unsupported": (
        "mode={mode} wordt niet ondersteund: deze service kent geen update of delete van een QuestionnaireResponse.",
        "mode={mode} is not supported: this service has no update or delete of a QuestionnaireResponse.",
    ),
    "api.validate.profile_missing": (
        "mode=profile vraagt om de parameter profile.",
        "mode=profile needs the parameter profile.",
    ),
    "api.validate.profile": (
        "Deze service kan niet valideren tegen profiel {profile}, alleen tegen {base}.",
        "This service cannot validate against profile {profile}, only against {base}.",
    ),
    "api.validate.meta_profile": (
        "Het geclaimde profiel {profile} (meta.profile) is niet gecontroleerd.",
        "The claimed profile {profile} (meta.profile) was not checked.",
    ),
    "api.submit.outcome": (
        "Inzending {submission}: {state}. De uitkomst per bestemming, ook later: {status_url}.",
        "Submission {submission}: {state}. The outcome per destination, also later: {status_url}.",
    ),
    "api.submit.delivered": ("Bezorgd bij {name}: {ids}.", "Delivered to {name}: {ids}."),
    "api.submit.queued": (
        "Wacht in de outbox voor {name}: gaat later vanzelf, één keer.",
        "Waiting in the outbox for {name}: it goes later by itself, once.",
    ),
    "api.recent_referral": (
        "Let op: {name} ({recipient}) kreeg op {date} al een verwijzing voor deze patiënt ({via}).",
        "Note: {name} ({recipient}) already received a referral for this patient on {date} ({via}).",
    ),
    "api.populate.unknown_identifier": (
        "Geen vragenlijst met identifier {identifier}: deze service vult alleen haar eigen vragenlijsten in.",
        "No questionnaire with identifier {identifier}: this service populates its own questionnaires only.",
    ),
    "api.populate.not_parameters": ("Verwacht Parameters, kreeg {got!r}.", "Expected Parameters, got {got!r}."),
    "api.populate.unknown_questionnaire": (
        "Onbekende vragenlijst {canonical!r}: deze service vult alleen haar eigen vragenlijsten in.",
        "Unknown questionnaire {canonical!r}: this service populates its own questionnaires only.",
    ),
    "api.populate.default_questionnaire": (
        "Geen vragenlijst opgegeven: {canonical} gebruikt.",
        "No questionnaire given: used {canonical}.",
    ),
    "api.populate.subject": (
        "Parameter 'subject' moet een verwijzing naar een Patient zijn (Patient/<id>).",
        "Parameter 'subject' must reference a Patient (Patient/<id>).",
    ),
    "api.populate.questionnaire_reference": (
        "Parameter 'questionnaire' verwijst met een {got} in plaats van een tekst (reference).",
        "Parameter 'questionnaire' has a {got} as its reference instead of a string.",
    ),
    "api.populate.questionnaire_canonical": (
        "Parameter 'questionnaire' moet een canonieke URL (een tekst) zijn, geen {got}.",
        "Parameter 'questionnaire' must be a canonical URL (a string), not {got}.",
    ),
    "api.populate.invalid_resource": (
        "{location} is geen geldige FHIR-resource.",
        "{location} is not a valid FHIR resource.",
    ),
    "api.populate.invalid_element": ("Ongeldig FHIR-element: {error}", "Invalid FHIR element: {error}"),
    "api.populate.element_type": (
        "Ongeldig FHIR-element: {location} moet een JSON-{expected} zijn, geen {got}.",
        "Invalid FHIR element: {location} must be a JSON {expected}, not {got}.",
    ),
    "api.populate.not_populated": ("Niet ingevuld: {reason}.", "Not populated: {reason}."),
    "api.populate.no_server": (
        "Deze service heeft geen FHIR-server om uit te lezen (local).",
        "This service has no FHIR server to read from (local).",
    ),
    "api.populate.unreadable": (
        "Het dossier kon niet van de FHIR-server worden gelezen{status}.",
        "The record could not be read from the FHIR server{status}.",
    ),
    "api.populate.no_data": (
        "Geen gegevens om mee in te vullen: geef resources mee (context) of local=true.",
        "No data to populate from: pass resources (context) or local=true.",
    ),
    # the mirror figures as MeasureReports (service/api/measures.py)
    "api.measurereport.period": (
        "Geef de parameter period: een jaar (2026) of een kwartaal (2026Q4).",
        "Give the parameter period: a year (2026) or a quarter (2026Q4).",
    ),
    "api.measurereport.subject": (
        "Geef de parameter subject: het id van een praktijk in het register, of van een regio.",
        "Give the parameter subject: the id of a practice in the registry, or of a region.",
    ),
    "api.measurereport.unknown_measure": (
        "Deze Measure is niet bekend; GET /fhir/Measure geeft ze alle.",
        "This Measure is not known; GET /fhir/Measure lists them all.",
    ),
    "api.measurereport.not_yours": (
        "Dit systeem mag alleen de cijfers van zijn eigen praktijk en van de regio daarvan opvragen.",
        "This system may only ask for the figures of its own practice and of that practice's region.",
    ),
    # ── checking a QuestionnaireResponse against its Questionnaire (service/questionnaires/validate.py) ─────
    "validate.not_a_response": (
        "Verwacht een QuestionnaireResponse, kreeg {got!r}.",
        "Expected a QuestionnaireResponse, got {got!r}.",
    ),
    "validate.unknown_questionnaire": (
        "Onbekende vragenlijst {canonical!r}: deze service kent alleen {known}.",
        "Unknown questionnaire {canonical!r}: this service knows only {known}.",
    ),
    "validate.status": ("Onbekende status: {status}.", "Unknown status: {status}."),
    "validate.status_missing": ("De status ontbreekt.", "The status is missing."),
    "validate.not_a_reference": (
        "{key} moet een referentie zijn.",
        "{key} must be a Reference with a reference or identifier.",
    ),
    "validate.authored": ("authored is geen geldige datum/tijd.", "authored is not a valid dateTime."),
    "validate.fhir_element": ("Ongeldig FHIR-element: {error}", "Invalid FHIR element: {error}"),
    "validate.disabled": (
        "{link_id!r} is beantwoord maar staat uit volgens enableWhen.",
        "{link_id!r} is answered but disabled by its enableWhen.",
    ),
    "validate.items_not_a_list": ("item moet een lijst zijn.", "item must be an array."),
    "validate.no_link_id": ("Item zonder linkId.", "Item without a linkId."),
    "validate.repeated": (
        "{link_id!r} komt meer dan eens voor.",
        "{link_id!r} occurs more than once but does not repeat.",
    ),
    "validate.misplaced": (
        "linkId {link_id!r} staat hier niet in de vragenlijst.",
        "linkId {link_id!r} is not allowed at this place.",
    ),
    "validate.unknown_link_id": (
        "linkId {link_id!r} bestaat niet in de vragenlijst.",
        "linkId {link_id!r} is not in the questionnaire.",
    ),
    "validate.container_answered": (
        "{link_id!r} is een {kind} en heeft geen antwoord.",
        "{link_id!r} is a {kind} item and takes no answer.",
    ),
    "validate.question_items": ("Een vraag heeft hier geen sub-items.", "A question item has no nested items here."),
    "validate.one_answer": ("{link_id!r} mag maar één antwoord hebben.", "{link_id!r} takes one answer only."),
    "validate.answers_not_a_list": ("answer moet een lijst zijn.", "answer must be an array."),
    "validate.answer_not_an_object": ("Ongeldig antwoord.", "An answer must be an object."),
    "validate.code": (
        "Code {system}|{code} is geen toegestane keuze voor {link_id!r}.",
        "Code {system}|{code} is not an answerOption of {link_id!r}.",
    ),
    "validate.too_long": ("Tekst is langer dan {max_length} tekens.", "Text is longer than maxLength {max_length}."),
    "validate.answer_items": (
        "Geneste vragen onder een antwoord kent deze vragenlijst niet.",
        "This questionnaire has no questions nested under answers.",
    ),
    "validate.one_value": ("Een antwoord heeft precies één waarde.", "An answer has exactly one value[x]."),
    "validate.wrong_type": (
        "{defn.link_id!r} verwacht {expected}, niet {key}.",
        "{defn.link_id!r} ({defn.type}) takes {expected}, not {key}.",
    ),
    "validate.invalid_value": ("Ongeldige {key} voor {link_id!r}.", "Invalid {key} for {link_id!r}."),
    "validate.required": (
        "Verplichte vraag {defn.link_id!r} ({defn.text}) is niet beantwoord.",
        "Required item {defn.link_id!r} has no answer.",
    ),
    # ── the engine's refusals of a valid response (service/referrals/pipeline.py) ───────────────────────────
    "pipeline.unknown_region": ("Onbekende regio {region!r}.", "Unknown region {region!r}."),
    "pipeline.not_valid": (
        "De vragenlijst is niet correct ingevuld.",
        "The questionnaire is not filled in correctly.",
    ),
    "pipeline.other_questionnaire": (
        "De regels van {ruleset.id} horen bij {ruleset.questionnaire}, niet bij {questionnaire}.",
        "Rule set {ruleset.label} applies to {ruleset.questionnaire}, not {questionnaire}.",
    ),
    "pipeline.not_completed": (
        "Alleen een afgeronde vragenlijst leidt tot een verwijzing.",
        "Only a completed response leads to a referral.",
    ),
    "pipeline.not_completed.status": (
        "Alleen een afgeronde vragenlijst (status completed) leidt tot een verwijzing, niet {status!r}.",
        "Only a completed response (status completed or amended) leads to a referral, not {status!r}.",
    ),
    "pipeline.no_subject": ("De vragenlijst heeft geen patiënt.", "The response has no patient."),
    "pipeline.no_subject.detail": (
        "De vragenlijst heeft geen patiënt (subject): zonder patiënt kan er geen verwijzing worden gemaakt.",
        "The response has no subject: a referral needs the patient.",
    ),
    "pipeline.patient_needed": (
        "Voor een verwijzing buiten de praktijk zijn de gegevens van de patiënt nodig.",
        "A referral outside the practice needs the patient's details.",
    ),
    "pipeline.patient_needed.detail": (
        "De vragenlijst noemt de patiënt alleen met een verwijzing naar het eigen dossier (subject), en dat dossier kent de ontvanger niet. Neem de patiënt (BSN, naam, contactgegevens) op als contained Patient en laat subject daarnaar wijzen (subject.reference: #patient), of noem het BSN van de patiënt (subject.identifier).",
        "The response names its patient only by a reference to the practice's own record (subject), which the recipient does not hold. Contain the Patient (BSN, name, contact details) and point subject at it (subject.reference: #patient), or name the patient's BSN (subject.identifier).",
    ),
    # ── the decision in words: $evaluate's displays, the CLI, the summary (service/referrals/explain.py) ────
    "explain.level.urgent": ("urgent kwetsbaar", "urgently vulnerable"),
    "explain.level.vulnerable": ("kwetsbaar", "vulnerable"),
    "explain.level.attention": ("aandacht", "attention"),
    "explain.level.none": ("geen kwetsbaarheid", "no vulnerability"),
    "explain.priority.urgent": ("urgent", "urgent"),
    "explain.priority.routine": ("regulier", "routine"),
    "explain.priority.asap": ("zo snel mogelijk", "as soon as possible"),
    "explain.priority.stat": ("direct", "immediately"),
    "explain.warning": ("LET OP: {message}", "WARNING: {message}"),
    "explain.level_line": ("Niveau: {level}", "Level: {level}"),
    "explain.level_line.overridden": (
        "Niveau: {level} (berekend: {computed}; aangepast, reden: {reason})",
        "Level: {level} (computed: {computed}; overridden, reason: {reason})",
    ),
    "explain.because": ("omdat: {reasons}", "because: {reasons}"),
    "explain.no_referral": ("Geen verwijzing voorgesteld.", "No referral suggested."),
    "explain.refer": ("Verwijzen naar: {name} (prioriteit {priority})", "Refer to: {name} (priority {priority})"),
    "explain.refer.blocked": (
        "Verwijzen naar: {name} (prioriteit {priority}) — NIET VERSTUURD: toestemming ontbreekt",
        "Refer to: {name} (priority {priority}) — NOT SENT: consent missing",
    ),
    "explain.advice": ("Advies:", "Advice:"),
    "explain.rule": ("regel {rule}: {description}", "rule {rule}: {description}"),
    "explain.based_on": ("op grond van: {reasons}", "based on: {reasons}"),
    "explain.consent_missing": (
        "Toestemming van de patiënt ontbreekt: er gaat niets buiten de praktijk.",
        "The patient's consent is missing: nothing leaves the practice.",
    ),
    "explain.rules": ("Regels: {ruleset}", "Rules: {ruleset}"),
    # ── reading and writing the EHR of a launch (service/ehr) ──────────────────────────────────────────────
    "ehr.read.forbidden": (
        "Het EPD gaf geen toestemming om te lezen{status}.",
        "The EHR did not allow us to read{status}.",
    ),
    "ehr.write.forbidden": (
        "Het EPD gaf geen toestemming om terug te schrijven{status}.",
        "The EHR did not allow us to write back{status}.",
    ),
    "ehr.not_found": (
        "Het EPD kent deze gegevens of deze bewerking niet{status}.",
        "The EHR does not know this data or operation{status}.",
    ),
    "ehr.unreachable": ("Het EPD was niet bereikbaar.", "The EHR could not be reached."),
    "ehr.read.refused": ("Het EPD weigerde het lezen{status}.", "The EHR refused to read{status}."),
    "ehr.write.refused": ("Het EPD weigerde het terugschrijven{status}.", "The EHR refused to write back{status}."),
    # ── calls to a FHIR server: the EHR's, a destination's (service/fhir) ─────────────────────────────────────
    # Written into the Bundles (Dutch: the language of the referral; the English for the catalogue's readers).
    "bundle.internal_without_consent": (
        "Interne verwijzing binnen de praktijk zonder expliciete toestemming (WGBO art. 7:457 lid 2); vertel de patiënt over deze verwijzing.",
        "Internal referral within the practice without explicit consent (Dutch Civil Code art. 7:457(2)); tell the patient about this referral.",
    ),
    "bundle.unknown_author": ("onbekende auteur", "unknown author"),
    "fhir.unknown_resource_type": (
        "Geen FHIR R4-resource: resourceType ontbreekt of is onbekend.",
        "Not a FHIR R4 resource: resourceType is missing or unknown.",
    ),
    "fhir.unreachable": ("FHIR-server niet bereikbaar: {error}", "FHIR server unreachable: {error}"),
    "fhir.auth": ("FHIR-server weigert onze inloggegevens", "FHIR server refused our credentials"),
    "fhir.not_found": ("Niet gevonden op de FHIR-server", "Not found on the FHIR server"),
    "fhir.conflict": ("Conflict op de FHIR-server", "Conflict on the FHIR server"),
    "fhir.server_error_retried": ("FHIR-server gaf een fout, ook na herhalen", "FHIR server error, also after retries"),
    "fhir.rejected": ("FHIR-server weigerde het verzoek", "FHIR server rejected the request"),
    "fhir.server_error": ("FHIR-server gaf een fout", "FHIR server error"),
    "fhir.unexpected_status": (
        "Onverwachte HTTP-status {status} van de FHIR-server",
        "Unexpected HTTP status {status} from the FHIR server",
    ),
    "fhir.not_json": ("Antwoord van de FHIR-server is geen JSON", "FHIR server response is not JSON"),
    "fhir.not_a_resource": (
        "Antwoord van de FHIR-server is geen FHIR-resource",
        "FHIR server response is not a FHIR resource",
    ),
    "fhir.wrong_type": ("Verwachtte een {expected} van de FHIR-server", "Expected a {expected} from the FHIR server"),
    "fhir.token_endpoint_error": ("Token-endpoint gaf een fout", "Token endpoint error"),
    "fhir.no_token": ("Geen toegangstoken gekregen ({error})", "No access token obtained ({error})"),
    "fhir.no_token_unreadable": (
        "Geen toegangstoken gekregen (onleesbaar antwoord)",
        "No access token obtained (unreadable answer)",
    ),
    # ── referrals: states, the recipient's Task, withdrawal (service/referrals, service/web) ───────────────
    # A submission's state (service/referrals/submit.py overall_state). Only "delivered" says afgeleverd: a
    # referral that waits or was refused has not reached anyone, and the page must not suggest it has.
    "state.delivered": ("afgeleverd", "delivered"),
    "state.queued": (
        "in de wachtrij (nog niet aangekomen; gaat vanzelf alsnog weg)",
        "queued (not arrived yet; will go out by itself)",
    ),
    "state.dead": (
        "geweigerd door de ontvangende server (niet aangekomen)",
        "refused by the receiving server (not arrived)",
    ),
    "state.recorded": ("vastgelegd; niets verstuurd buiten de praktijk", "recorded; nothing sent outside the practice"),
    # every referral that would have gone out was taken back from the outbox by the practice (cancel_referral)
    "state.withdrawn": (
        "ingetrokken; niets verstuurd buiten de praktijk",
        "cancelled; nothing sent outside the practice",
    ),
    # every referral that went out was cancelled by the practice after it had arrived (its Task cancelled)
    "state.delivered_withdrawn": ("afgeleverd en daarna ingetrokken", "delivered, then withdrawn"),
    # https://hl7.org/fhir/R4/valueset-task-status.html
    "task.draft": ("concept", "draft"),
    "task.requested": ("aangevraagd, nog niet opgepakt", "requested, not yet taken up"),
    "task.received": ("ontvangen", "received"),
    "task.accepted": ("geaccepteerd", "accepted"),
    "task.rejected": ("afgewezen", "rejected"),
    "task.ready": ("gereed", "ready"),
    "task.cancelled": ("geannuleerd", "cancelled"),
    "task.in-progress": ("in behandeling", "in progress"),
    "task.on-hold": ("gepauzeerd", "on hold"),
    # the coordinator's "not reached" (taskflow.OUTCOME_STATUS): "mislukt" read as a sending that failed
    "task.failed": ("afgesloten zonder resultaat", "closed without result"),
    "task.completed": ("afgerond", "completed"),
    "task.entered-in-error": ("foutief ingevoerd", "entered in error"),
    # What the recipient did with a referral, back at the practice (service/referrals/feedback.py: the practice's copy,
    # shown by the confirmation, "Eerder verwezen" on the form and the practice's overview; common.py task_view).
    "feedback.since": ("sinds {when}", "since {when}"),
    # a referral the practice cancelled while it still waited in the outbox: no recipient ever had it
    "feedback.unsent": ("ingetrokken, nooit verstuurd", "cancelled, never sent"),
    "feedback.message": ("Bericht van {name}:", "Message from {name}:"),
    "feedback.checked": ("Stand bij de ontvanger opgehaald op {when}.", "Status fetched from the recipient on {when}."),
    "feedback.not_yet": (
        "Afgeleverd; nog geen reactie van de ontvanger opgehaald.",
        "Delivered; no response from the recipient fetched yet.",
    ),
    "feedback.problem": (
        "De ontvanger was bij de laatste poging niet bereikbaar; dit is de laatst bekende stand.",
        "The recipient could not be reached at the last attempt; this is the last known status.",
    ),
    # The practice's overview of its referrals (service/web/overview.py, practice_referrals.html).
    "overview.title": ("Verwijzingen van de praktijk", "The practice's referrals"),
    "overview.intro": (
        (
            "Alle verwijzingen van de praktijk die nog open staan, en die waarin de afgelopen {days} dagen iets is "
            "veranderd. De stand bij de ontvangers wordt op de achtergrond bijgewerkt, minstens elk uur."
        ),
        (
            "All the practice's referrals that are still open, and those in which something changed in the last "
            "{days} days. The status at the recipients is updated in the background, at least every hour."
        ),
    ),
    "overview.open": ("Nog open", "Still open"),
    "overview.closed": ("Onlangs afgehandeld", "Recently closed"),
    "overview.none_open": ("Er staan geen verwijzingen open.", "No referrals are open."),
    "overview.none_closed": (
        "De afgelopen {days} dagen is geen verwijzing afgehandeld.",
        "No referral was closed in the last {days} days.",
    ),
    "overview.sent": ("Verstuurd", "Sent"),
    "overview.patient": ("Patiënt", "Patient"),
    "overview.recipient": ("Ontvanger", "Recipient"),
    "overview.status": ("Stand bij de ontvanger", "Status at the recipient"),
    "overview.patient_unknown": ("(gegevens niet meer bewaard)", "(details no longer kept)"),
    "overview.back": ("Naar het signaleringsformulier", "To the signalling form"),
    # The mirror figures ("spiegelinformatie", service/mirror/dashboard.py, templates/mirror/*.html): the practice's
    # page (its own figures and the region's) and the region's programme manager's page (the region's, suppressed).
    "mirror.title": ("Spiegelinformatie Kansrijke Start", "Kansrijke Start mirror figures"),
    "mirror.region_title": ("Spiegelinformatie van de regio", "The region's mirror figures"),
    "mirror.intro_practice": (
        (
            "Hoeveel gezinnen de praktijk in {period} heeft gesignaleerd en verwezen, en wat de ontvangers hebben "
            "teruggekoppeld. Er staan geen patiënten in: alleen aantallen."
        ),
        (
            "How many families the practice signalled and referred in {period}, and what the recipients fed back. "
            "No patients are in it: counts only."
        ),
    ),
    "mirror.intro_region": (
        (
            "De cijfers van alle praktijken in de regio samen over {period}. Aantallen van minder personen dan de "
            "drempel zijn verborgen, zodat niemand herkenbaar is."
        ),
        (
            "The figures of all practices in the region together for {period}. Counts of fewer people than the "
            "threshold are hidden, so that nobody can be recognised."
        ),
    ),
    "mirror.signed_in_as": (
        "Ingelogd als {name}, programmamanager van {region}.",
        "Signed in as {name}, programme manager of {region}.",
    ),
    "mirror.own": ("Uw praktijk, {period}", "Your practice, {period}"),
    "mirror.own_note": (
        "Uw eigen cijfers, ook de kleine aantallen: alleen uw praktijk ziet ze zo.",
        "Your own figures, small counts included: only your practice sees them like this.",
    ),
    "mirror.region_heading": ("Regio {region}, {period}", "Region {region}, {period}"),
    "mirror.per_practice": ("Verwijzingen per praktijk, {period}", "Referrals per practice, {period}"),
    "mirror.period": ("Periode", "Period"),
    "mirror.show": ("Tonen", "Show"),
    "mirror.quarter": ("{quarter}e kwartaal {year}", "Q{quarter} {year}"),
    "mirror.bad_period": (
        "Kies een jaar (bijvoorbeeld 2026) of een kwartaal (bijvoorbeeld 2026Q4).",
        "Choose a year (for example 2026) or a quarter (for example 2026Q4).",
    ),
    "mirror.regio_only": (
        "De cijfers van de regio zijn voor de programmamanager van de regio.",
        "The region's figures are for the region's programme manager.",
    ),
    "mirror.csv": ("Cijfers downloaden (CSV)", "Download the figures (CSV)"),
    "mirror.invented_title": ("Verzonnen demogeschiedenis.", "Invented demo history."),
    "mirror.invented": (
        "Deze cijfers komen (deels) uit verzonnen voorbeeldgegevens van de demo, niet uit echte verwijzingen.",
        "These figures come (in part) from the demo's invented example data, not from real referrals.",
    ),
    "mirror.mark": ("<{n}", "<{n}"),
    "mirror.mark_cbs": (".", "."),
    "mirror.mark_complementary": ("verborgen", "hidden"),
    "mirror.legend": (
        "Gearceerd en <{n}: verborgen, omdat het op minder dan {n} personen is gebaseerd. Gearceerd en ‘verborgen’: op {n} of meer personen gebaseerd, maar verborgen zodat een getal onder de {n} niet uit de andere terug te rekenen is.",
        'Hatched and <{n}: hidden, because it is based on fewer than {n} people. Hatched and "hidden": based on {n} or more people, but hidden so that a number under {n} cannot be worked out from the others.',
    ),
    "mirror.legend_cbs": (
        'Gearceerd en ".": geheim, zoals het CBS werkt: kleine aantallen verborgen, de rest afgerond op 5.',
        'Hatched and ".": confidential, as CBS works: small counts hidden, the rest rounded to 5.',
    ),
    "mirror.none": ("0", "0"),
    "mirror.nothing": ("Niets in deze periode.", "Nothing in this period."),
    "mirror.share": ("{percent}%", "{percent}%"),
    "mirror.share_of": ("{count} van {denominator}", "{count} of {denominator}"),
    "mirror.days": ("{days} dagen", "{days} days"),
    "mirror.decimal_mark": (",", "."),
    "mirror.chart_summary": (
        "Staafdiagram, dezelfde aantallen als in de tabel ernaast.",
        "Bar chart, the same counts as in the table beside it.",
    ),
    "mirror.table_caption": ("{title}: de aantallen", "{title}: the counts"),
    "mirror.chart.per_quarter": ("Verwijzingen per kwartaal", "Referrals per quarter"),
    "mirror.chart.by_recipient": ("Verwijzingen per ontvanger", "Referrals by recipient"),
    "mirror.chart.by_signal": ("Verwijzingen per signaal", "Referrals by signal"),
    "mirror.chart.funnel": ("Terugkoppeling van de ontvangers", "Feedback from the recipients"),
    "mirror.funnel.referred": ("Verwezen buiten de praktijk", "Referred outside the practice"),
    "mirror.funnel.feedback": ("Met terugkoppeling", "With feedback"),
    "mirror.col.quarter": ("Kwartaal", "Quarter"),
    "mirror.col.recipient": ("Ontvanger", "Recipient"),
    "mirror.col.signal": ("Signaal", "Signal"),
    "mirror.col.step": ("Stap", "Step"),
    "mirror.col.number": ("Aantal", "Number"),
    "mirror.col.figure": ("Cijfer", "Figure"),
    "mirror.col.value": ("Waarde", "Value"),
    "mirror.col.detail": ("Toelichting", "Detail"),
    "mirror.col.practice": ("Praktijk", "Practice"),
    "mirror.col.referrals": ("Verwijzingen", "Referrals"),
    "mirror.key_figures": ("Kerncijfers", "Key figures"),
    "mirror.phase_questionnaires": ("Vragenlijsten vastgelegd: {phase}", "Questionnaires recorded: {phase}"),
    "mirror.figure.questionnaires-by-phase": (
        "Vragenlijsten vastgelegd, per fase",
        "Questionnaires recorded, by phase",
    ),
    "mirror.figure.referrals-by-recipient": ("Verwijzingen per ontvanger", "Referrals by recipient"),
    "mirror.figure.referrals-by-signal": ("Verwijzingen per signaal", "Referrals by signal"),
    "mirror.figure.urgent-share": ("Verwijzingen met niveau urgent", "Referrals with level urgent"),
    "mirror.figure.meldcode-share": (
        "Vragenlijsten met het Meldcode-paneel",
        "Questionnaires with the reporting code panel",
    ),
    "mirror.figure.consent-declined": (
        "Kwetsbaar of urgent, maar geen verwijzing (geen toestemming)",
        "Vulnerable or urgent, but no referral (no consent)",
    ),
    "mirror.figure.overrides": ("Niveau aangepast door de huisarts", "Level changed by the GP"),
    "mirror.figure.feedback-share": ("Verwijzingen met terugkoppeling", "Referrals with feedback"),
    "mirror.figure.feedback-median-days": ("Mediaan dagen tot terugkoppeling", "Median days to feedback"),
    # The recipient working a referral's Task (service/referrals/taskflow.py, worklist.py); `status` is a task.* text.
    "taskflow.refused": (
        "Deze stap kan niet (meer); de stand van de verwijzing is: {status}.",
        "This step is not possible (any more); the referral stands at: {status}.",
    ),
    "taskflow.conflict_by": (
        "Deze verwijzing is intussen al opgepakt door {who}; de stand is nu: {status}. Open de verwijzing opnieuw.",
        "Meanwhile {who} has taken this referral up; it now stands at: {status}. Open the referral again.",
    ),
    "taskflow.conflict": (
        "Deze verwijzing is intussen door iemand anders gewijzigd; de stand is nu: {status}. Open de verwijzing opnieuw.",
        "Meanwhile someone else changed this referral; it now stands at: {status}. Open the referral again.",
    ),
    "taskflow.unknown_code": (
        "Kies een reden of uitkomst uit de lijst.",
        "Choose a reason or an outcome from the list.",
    ),
    "taskflow.message_missing": (
        "Schrijf een kort bericht voor de huisarts.",
        "Write a short message for the GP.",
    ),
    "taskflow.message_too_long": (
        "Het bericht voor de huisarts is te lang: hoogstens {max} tekens.",
        "The message for the GP is too long: {max} characters at most.",
    ),
    "taskflow.no_assignee": (
        "Kies de collega die de verwijzing oppakt.",
        "Choose the colleague who takes the referral up.",
    ),
    "worklist.not_found": (
        "Deze verwijzing is niet gevonden, of zij is niet voor uw organisatie.",
        "This referral was not found, or it is not for your organisation.",
    ),
    "withdraw.status_reason": ("Toestemming ingetrokken door de patiënt", "Consent withdrawn by the patient"),
    "withdraw.no_referral": (
        "Inzending {submission} heeft geen verwijzing naar {recipient}.",
        "Submission {submission} has no referral to {recipient}.",
    ),
    "withdraw.not_delivered": (
        "De verwijzing is nog niet afgeleverd; trek de toestemming in zodra zij is afgeleverd.",
        "The referral has not been delivered yet: withdraw once it has.",
    ),
    # The GP's cancel of a referral (service/referrals/withdraw.py cancel_referral, service/web/cancel.py,
    # cancel.html): the recipient reads the status reason on its Task; `status` is a task.* text.
    "cancel.status_reason": ("Ingetrokken door de huisarts", "Cancelled by the GP"),
    "cancel.status_reason_poh": (
        "Ingetrokken door de POH Jeugd van de huisartsenpraktijk",
        "Cancelled by the POH Jeugd of the GP practice",
    ),
    "cancel.not_delivered": (
        "De verwijzing is nog niet afgeleverd bij de ontvanger; intrekken kan zodra zij is afgeleverd.",
        "The referral has not been delivered to the recipient yet; it can be cancelled once it has.",
    ),
    "cancel.in_flight": (
        "De verwijzing wordt op dit moment verstuurd; er is niets ingetrokken. Probeer het over een minuut opnieuw.",
        "The referral is being sent right now; nothing was cancelled. Try again in a minute.",
    ),
    "cancel.no_task": (
        "De ontvanger heeft deze verwijzing niet (meer) in behandeling; hier valt niets in te trekken.",
        "The recipient does not (or no longer) hold this referral; there is nothing to cancel here.",
    ),
    "cancel.final": (
        "Deze verwijzing is bij de ontvanger al {status}; intrekken kan niet meer.",
        "At the recipient this referral is already {status}; it can no longer be cancelled.",
    ),
    "cancel.button": ("Verwijzing intrekken", "Cancel referral"),
    "cancel.button_for": ("Verwijzing intrekken: {recipient}", "Cancel referral: {recipient}"),
    "cancel.title": ("Verwijzing intrekken", "Cancel the referral"),
    "cancel.are_you_sure": (
        "Weet u het zeker? {recipient} krijgt bericht dat de verwijzing is ingetrokken en stopt met het werk eraan.",
        "Are you sure? {recipient} is told that the referral has been cancelled and stops working on it.",
    ),
    "cancel.final_step": (
        "Intrekken kunt u niet ongedaan maken. Is later toch hulp nodig, verstuur dan een nieuwe verwijzing.",
        "Cancelling cannot be undone. Should help be needed later after all, send a new referral.",
    ),
    # a referral still waiting in the outbox (or refused by its server): taken back, unless it went meanwhile
    "cancel.are_you_sure_waiting": (
        (
            "Weet u het zeker? De verwijzing naar {recipient} is nog niet verstuurd; zij wordt uit de wachtrij "
            "gehaald en gaat niet meer weg."
        ),
        (
            "Are you sure? The referral to {recipient} has not been sent yet; it is taken out of the queue and will "
            "not go out."
        ),
    ),
    "cancel.waiting_meanwhile": (
        "Is de verwijzing intussen toch aangekomen, dan krijgt {recipient} bericht dat zij is ingetrokken.",
        "Should the referral have arrived meanwhile after all, {recipient} is told that it has been cancelled.",
    ),
    "cancel.queued_at": ("In de wachtrij sinds", "Queued since"),
    "cancel.already_unsent": (
        "Deze verwijzing is al ingetrokken voordat zij werd verstuurd; de ontvanger heeft haar nooit gekregen.",
        "This referral was already cancelled before it was sent; the recipient never received it.",
    ),
    "cancel.confirm": ("Ja, verwijzing intrekken", "Yes, cancel the referral"),
    "cancel.keep": ("Nee, niet intrekken", "No, do not cancel"),
    "cancel.back_sent": ("Terug naar de bevestiging", "Back to the confirmation"),
    "cancel.back_overview": ("Terug naar de verwijzingen van de praktijk", "Back to the practice's referrals"),
    "cancel.refused_title": ("Intrekken kan niet", "The referral cannot be cancelled"),
    "cancel.conflict": (
        (
            "Intussen is de verwijzing bij {recipient} gewijzigd; de stand is nu: {status}. Er is niets ingetrokken. "
            "Bekijk de nieuwe stand en trek de verwijzing zo nodig opnieuw in."
        ),
        (
            "Meanwhile the referral was changed at {recipient}; it now stands at: {status}. Nothing was cancelled. "
            "Look at where it stands now and cancel again if need be."
        ),
    ),
    "cancel.unreachable": (
        "{recipient} is nu niet bereikbaar; er is niets ingetrokken. Probeer het later opnieuw.",
        "{recipient} cannot be reached now; nothing was cancelled. Try again later.",
    ),
    "cancel.not_found": (
        "Deze verwijzing staat niet bij de verwijzingen van uw praktijk.",
        "This referral is not among your practice's referrals.",
    ),
    "cancel.forbidden_title": (
        "Intrekken mag alleen de huisarts of de POH Jeugd",
        "Only the GP or the POH Jeugd may cancel a referral",
    ),
    "cancel.forbidden_text": (
        "Vraag de huisarts of de POH Jeugd om de verwijzing in te trekken.",
        "Ask the GP or the POH Jeugd to cancel the referral.",
    ),
    # ── the signalling form (service/web/form_page.py, formview.py, send.py) ───────────────────────────────
    "form.no_patient_in_launch": ("Er is geen patiënt meegegeven bij het openen.", "No patient came with the launch."),
    # When an enableWhen item applies, short (service/web/formview.py enable_hint): "Alleen bij huiselijk geweld of
    # betrokkenheid Veilig Thuis in anamnese."; more than two conditions: one of the two general sentences.
    "form.hint.only_if": ("Alleen {conditions}.", "Only {conditions}."),
    "form.hint.ticked": ("bij {question}", "with {question}"),  # a signal: "bij huiselijk geweld"
    "form.hint.ticked_item": ("als ‘{question}’ is aangevinkt", "if '{question}' is ticked"),
    "form.hint.not_ticked": ("als ‘{question}’ niet is aangevinkt", "if '{question}' is not ticked"),
    "form.hint.chosen": ("bij {question} ‘{answer}’", "for {question} '{answer}'"),
    "form.hint.filled_in": ("als ‘{question}’ is ingevuld", "if '{question}' is filled in"),
    "form.hint.question": ("als ‘{question}’ daarom vraagt", "if '{question}' calls for it"),
    "form.hint.several_ticked": (
        "Vul in als een van de bijbehorende signalen hierboven is aangevinkt.",
        "Fill in if one of the related signals above is ticked.",
    ),
    "form.hint.several": (
        "Vul in als de antwoorden hierboven erom vragen.",
        "Fill in if the answers above call for it.",
    ),
    "form.hint.any": (" of ", " or "),
    "form.hint.all": (" en ", " and "),
    "form.error.option": ("Kies een van de mogelijkheden bij ‘{label}’.", "Choose one of the options for '{label}'."),
    "form.error.date": (
        "‘{label}’ is geen geldige datum: gebruik dd-mm-jjjj, bijvoorbeeld 01-03-2027.",
        "'{label}' is not a valid date: use dd-mm-yyyy, e.g. 01-03-2027.",
    ),
    "form.error.date_impossible": (
        "Geen bestaande datum bij ‘{label}’: controleer de dag en de maand (dd-mm-jjjj).",
        "Not an existing date for '{label}': check the day and the month (dd-mm-yyyy).",
    ),
    "form.error.integer": (
        "‘{label}’: vul een heel getal in (0 of meer).",
        "'{label}': enter a whole number (0 or more).",
    ),
    "form.error.too_long": (
        "‘{label}’ is te lang: hooguit {max} tekens ({length} nu).",
        "'{label}' is too long: at most {max} characters ({length} now).",
    ),
    "form.error.choose_answer": ("Kies een antwoord bij ‘{label}’.", "Choose an answer for '{label}'."),
    "form.error.fill_in": ("Vul ‘{label}’ in.", "Fill in '{label}'."),
    "form.error.due_ahead": (
        "De uitgerekende datum ligt meer dan 44 weken in de toekomst.",
        "The due date is more than 44 weeks ahead.",
    ),
    "form.error.due_past": (
        "De uitgerekende datum ligt meer dan 2 weken in het verleden. Is het kind geboren? Kies dan ‘Na de geboorte’.",
        "The due date is more than 2 weeks past. Has the child been born? Then choose 'After birth'.",
    ),
    "form.error.birth_future": (
        "De geboortedatum van het kind ligt in de toekomst.",
        "The child's date of birth is in the future.",
    ),
    "form.error.children": (
        "Kindcheck: meer dan {max} kinderen is niet aannemelijk.",
        "Child check: more than {max} children is not plausible.",
    ),
    # ── suggestions from the record beside the form (service/questionnaires/populate.py) ──────────────────
    "populate.teenage": (
        "De patiënte is {when} {age} jaar (jonger dan {below}). Niet automatisch aangevinkt — beoordeel zelf.",
        "The patient is {age} {when} (under {below}). Not ticked automatically — your judgement.",
    ),
    "populate.at_due_date": ("op de uitgerekende datum", "at the due date"),
    "populate.now": ("nu", "now"),
    "populate.stale_due_date": (
        "De uitgerekende datum in het dossier ligt meer dan 2 weken achter ons. Is het kind geboren? Kies dan ‘Na de geboorte’; anders: vul de juiste datum in.",
        "The due date in the record is more than 2 weeks past. Has the child been born? Then choose 'After birth'; otherwise enter the right date.",
    ),
    "send.choose_method": (
        "Kies hoe de toestemming is gegeven (mondeling of schriftelijk).",
        "Choose how consent was given (verbal or written).",
    ),
    # a send whose only effect is the practice's own record goes only when confirmed (service/web/send.py)
    "send.confirm_record_only": (
        "Er gaat niets naar buiten de praktijk. Wilt u alleen vastleggen? Kies ‘Alleen vastleggen, niets versturen’, of vink de toestemming aan voor wie de verwijzing moet krijgen.",
        "Nothing leaves the practice. Do you want to record only? Choose 'Record only, send nothing', or tick consent for whoever should get the referral.",
    ),
    "send.record_only_but_consent": (
        "U koos ‘Alleen vastleggen, niets versturen’, maar er is toestemming aangevinkt: dan gaat er wel een verwijzing naar buiten. Haal het vinkje weg, of kies ‘Versturen en vastleggen’.",
        "You chose 'Record only, send nothing', but consent is ticked: then a referral does leave the practice. Untick it, or choose 'Send and record'.",
    ),
    "send.no_patient": (
        "Het EPD gaf de gegevens van de patiënt nu niet. Er is niets verstuurd en niets vastgelegd; probeer het zo opnieuw.",
        "The EHR did not give the patient's details just now. Nothing was sent or recorded; try again shortly.",
    ),
    # ── what each share category puts in a recipient's Bundle, in the GP's words (service/web/panel.py) ────
    "share.identity": (
        "naam, BSN, geslacht, geboortedatum, adres, telefoon en e-mail",
        "name, BSN, gender, date of birth, address, phone and e-mail",
    ),
    "share.language": ("voorkeurstaal", "preferred language"),
    "share.phase": ("fase en datum", "phase and date"),
    "share.signals": ("de aangevinkte signalen", "the ticked signals"),
    "share.level": ("het niveau", "the level"),
    "share.help-question": ("de hulpvraag", "the help question"),
    "share.consent": ("de vastgelegde toestemming", "the recorded consent"),
    "consent.verbal": ("mondeling", "verbal"),
    "consent.written": ("schriftelijk", "written"),
    "none": ("geen", "none"),
    "phase.due_date": ("{phase}, uitgerekende datum {date}", "{phase}, due date {date}"),
    "phase.birth_date": ("{phase}, geboortedatum kind {date}", "{phase}, child's date of birth {date}"),
    # ── the summary for the HIS (service/web/panel.py) ─────────────────────────────────────────────────────
    "his.title": ("Kansrijke Start — signalering {authored}", "Kansrijke Start — signalling {authored}"),
    "his.phase": ("Fase: {phase}", "Phase: {phase}"),
    "his.intention": ("Zwangerschapswens: {answer}", "Wish to become pregnant: {answer}"),
    "his.signals": ("Signalen: {signals}", "Signals: {signals}"),
    "his.children": (
        "Kindcheck: kinderen in het huishouden: {children}",
        "Child check: children in the household: {children}",
    ),
    "his.meldcode.steps": (
        "Meldcode: stappen afgevinkt: {steps} (niets naar Veilig Thuis verstuurd door deze dienst)",
        "Reporting code: steps ticked: {steps} (nothing sent to Veilig Thuis by this service)",
    ),
    "his.meldcode.step": ("  stap {number}: {date}, {user}", "  step {number}: {date}, {user}"),
    "his.meldcode.informed": ("Patiënt geïnformeerd over de zorgen: ja", "Patient informed of the concerns: yes"),
    "his.meldcode.not_informed": (
        "Patiënt geïnformeerd over de zorgen: nee — reden: {reason}",
        "Patient informed of the concerns: no — reason: {reason}",
    ),
    "his.meldcode.no_reason": ("niet opgegeven", "not given"),
    "his.meldcode.facts": ("Feiten (Meldcode): {facts}", "Facts (reporting code): {facts}"),
    "his.consent": ("Toestemming: {method}", "Consent: {method}"),
    "his.help_question": ("Hulpvraag: {note}", "Help question: {note}"),
    "his.recorded_by": ("Vastgelegd door: {author}", "Recorded by: {author}"),
    "his.not_sent": ("Niets verstuurd naar {name} (geen toestemming)", "Nothing sent to {name} (no consent)"),
    "his.nothing_outside": ("Niets verstuurd buiten de praktijk.", "Nothing sent outside the practice."),
    "his.internal_not_recorded": (
        "Interne verwijzing (niets verstuurd buiten de praktijk; NIET in het EPD vastgelegd, zet haar zelf in het HIS): {name}",
        "Internal referral (nothing sent outside the practice; NOT recorded in the EHR, enter it in the HIS): {name}",
    ),
    "his.internal": (
        "Interne verwijzing (in het EPD, niets verstuurd buiten de praktijk): {name}",
        "Internal referral (in the EHR, nothing sent outside the practice): {name}",
    ),
    "his.delivered": ("Verstuurd naar {where}: afgeleverd", "Sent to {where}: delivered"),
    "his.queued": (
        "In de wachtrij voor {where}: nog niet aangekomen, gaat vanzelf alsnog weg",
        "Queued for {where}: not arrived yet, will go out by itself",
    ),
    "his.refused": (
        "Geweigerd door de server van {where}: niet aangekomen",
        "Refused by the server of {where}: not arrived",
    ),
    "his.delivered_then_withdrawn": (
        "Verstuurd naar {where}: afgeleverd, daarna ingetrokken",
        "Sent to {where}: delivered, then withdrawn",
    ),
    "his.withdrawn": (
        "Verwijzing naar {where} ingetrokken voordat zij werd verstuurd: niet aangekomen",
        "Referral to {where} cancelled before it was sent: not arrived",
    ),
    # what the recipient did with it, once known (service/web/panel.py join_summary); `status` e.g. "afgerond — …"
    "his.feedback": ("Terugkoppeling van {name} ({date}): {status}", "Feedback from {name} ({date}): {status}"),
    "his.message": ("Bericht van {name}: {message}", "Message from {name}: {message}"),
    # ── the command line (service/cli.py): printed in both languages, or in Dutch ─────────────────────────
    "cli.state.queued": ("in de wachtrij", "queued"),
    "cli.state.dead": ("geweigerd (dead letter)", "refused"),
    "cli.state.recorded": (
        "niets verstuurd: alles blijft in de praktijk",
        "nothing sent: it all stays in the practice",
    ),
    "cli.submission": ("Inzending", "submission"),
    "cli.valid": ("geldig", "valid"),
    "cli.cannot_read": ("Kan {path} niet lezen: {reason}.", "Cannot read {path}: {reason}."),
    "cli.report.period": (
        "Geen periode: {period}. Geef een kwartaal (2026Q4) of een jaar (2026).",
        "Not a period: {period}. Give a quarter (2026Q4) or a year (2026).",
    ),
    "cli.queued_no_server": (
        "Er is geen FHIR-server ingesteld voor deze bestemming: de verwijzing wacht in de outbox.",
        "No FHIR server is set for this destination: the referral waits in the outbox.",
    ),
    "cli.queued_unreachable": (
        "De FHIR-server was niet bereikbaar: de verwijzing wacht in de outbox en gaat later, eenmalig, alsnog weg.",
        "The FHIR server could not be reached: the referral waits in the outbox and goes out later, once.",
    ),
    "cli.withdraw_failed": (
        "de bestemming weigerde of was niet bereikbaar: {error} (HTTP {status}); probeer het opnieuw",
        "the destination refused or could not be reached: {error} (HTTP {status}); try again",
    ),
    "cli.withdrawn": (
        "Toestemming ingetrokken bij {destination}: {consent} inactief, {task} geannuleerd",
        "Consent withdrawn at {destination}: {consent} inactive, {task} cancelled",
    ),
    # `kansrijk cancel` (service/cli.py cmd_cancel): one line per referral.
    "cli.cancelled": (
        "Verwijzing aan {recipient} ingetrokken bij {destination}: de ontvanger ziet haar als ingetrokken",
        "Referral to {recipient} cancelled at {destination}: the recipient sees it as cancelled",
    ),
    "cli.cancelled_unsent": (
        "Verwijzing aan {recipient} uit de outbox gehaald voordat zij naar {destination} ging: er is niets verstuurd",
        "Referral to {recipient} taken out of the outbox before it went to {destination}: nothing was sent",
    ),
    "cli.cancel_refused": (
        "Verwijzing aan {recipient} niet ingetrokken: {reason}",
        "Referral to {recipient} not cancelled: {reason}",
    ),
    "cli.cancel_unreachable": (
        "Verwijzing aan {recipient} niet ingetrokken: de bestemming was niet bereikbaar ({error}); probeer het opnieuw",
        "Referral to {recipient} not cancelled: the destination could not be reached ({error}); try again",
    ),
    "cli.cancel_unknown": (
        "Geen verwijzing {referral} in de outbox van deze praktijk.",
        "No referral {referral} in this practice's outbox.",
    ),
    # `kansrijk db upgrade` (service/db/migrate.py): the stores whose tables were brought up to date, or none
    "cli.db.upgraded": ("Database bijgewerkt: {branches}.", "Database upgraded: {branches}."),
    "cli.db.up_to_date": (
        "De database is al bijgewerkt; er was niets te doen.",
        "The database is up to date; nothing to do.",
    ),
    "cli.no_consent": ("geen Consent gevonden", "no Consent found"),
    "cli.no_task": ("geen Task gevonden", "no Task found"),
    "cli.not_sent_no_server": (
        "Niets verstuurd: de inzending staat in de outbox ({outbox}) en wacht daar. Stel KS_FHIR_BASE_URL in (één FHIR-server voor alle bestemmingen) of KS_DESTINATIONS (een server per bestemming) en verstuur dan met `kansrijk outbox retry`.",
        "Nothing sent: the submission is stored in the outbox ({outbox}) and waits there. Set KS_FHIR_BASE_URL (one FHIR server for every destination) or KS_DESTINATIONS (a server per destination), then send with `kansrijk outbox retry`.",
    ),
    # `make run` (service/run.py): its last line before it serves, and a port it cannot use (one line, exit 2)
    "cli.run.ready_demo": (
        "Kansrijke Start draait: open {url} om als huisarts door het formulier te klikken, {inbox} als coördinator (stoppen: Ctrl-C)",
        "Kansrijke Start is running: open {url} to click through the form as a GP, {inbox} as a coordinator (stop: Ctrl-C)",
    ),
    "cli.run.ready": (
        "Kansrijke Start draait op {url} (stoppen: Ctrl-C)",
        "Kansrijke Start is running at {url} (stop: Ctrl-C)",
    ),
    "cli.run.port_in_use": (
        "Poort {port} is al in gebruik (door een ander programma, of een `make run` die nog draait): stop dat, of start met {setting}={free} make run",
        "Port {port} is already in use (by another program, or a `make run` still running): stop it, or start with {setting}={free} make run",
    ),
    "cli.run.cannot_listen": (
        "Kan niet luisteren op {host}:{port} ({reason}): kies een andere poort met {setting}=…",
        "Cannot listen on {host}:{port} ({reason}): choose another port with {setting}=…",
    ),
    # ── the launch pages, before a language is known: Dutch, some with English below (templates/launch_*.html,
    #    smart_error.html) ────────────────────────────────────────────────────────────────────────────────────
    "launch.failed.title": ("Starten mislukt", "Start failed"),
    "launch.failed.heading": ("Kansrijke Start kon niet worden gestart", "Kansrijke Start could not be started"),
    "launch.failed.ehr_message": ("Melding van het EPD", "message from the EHR"),
    "launch.failed.again": (
        "Open de app opnieuw vanuit het dossier van de patiënt in uw huisartsinformatiesysteem. Blijft dit gebeuren, neem dan contact op met uw applicatiebeheerder.",
        "Open the app again from the patient's record in your EHR. If this keeps happening, contact your application manager.",
    ),
    "launch.again.title": ("Opnieuw openen", "Open again"),
    "launch.again.heading": ("Open Kansrijke Start opnieuw vanuit het EPD", "Open Kansrijke Start again from the EHR"),
    "launch.again.text": (
        "Uw sessie is verlopen of niet (meer) geldig. Open de app opnieuw vanuit het dossier van de patiënt in uw huisartsinformatiesysteem.",
        "Your session has expired or is not valid. Open the app again from the patient's record in your EHR.",
    ),
    "launch.pick.title": ("Kies uw EPD", "Choose your EHR"),
    "launch.pick.heading": ("Kansrijke Start openen", "Open Kansrijke Start"),
    "launch.pick.text": (
        "Kies het huisartsinformatiesysteem (EPD) waarin u werkt. U logt daar in en kiest daar de patiënt.",
        "Choose the EHR you work in. You log in there and pick the patient there.",
    ),
    "launch.pick.none": (
        "Er is nog geen EPD aangesloten op deze installatie van Kansrijke Start. Uw applicatiebeheerder legt de aansluiting vast (KS_EHR_REGISTRY).",
        "No EHR is registered with this installation yet. Your application manager registers them (KS_EHR_REGISTRY).",
    ),
    # ── the sandbox EHR (service/sandbox, templates/sandbox_launch.html) ──────────────────────────────────────────────────────────────────
    "sandbox.unknown_pick": ("Onbekende demopatiënt of -gebruiker.", "Unknown demo patient or user."),
    "sandbox.title": ("Demo-EPD — Kansrijke Start starten", "Demo EHR — start Kansrijke Start"),
    "sandbox.heading": ("Demo-EPD: open Kansrijke Start", "Demo EHR: open Kansrijke Start"),
    "sandbox.text": (
        "Dit is een nagebootst huisartsinformatiesysteem met verzonnen patiënten. Kies een patiënt en een gebruiker: het demo-EPD start de app zoals een echt EPD dat doet (SMART on FHIR EHR launch).",
        "A simulated EHR with invented patients. Pick a patient and a user to EHR-launch the app.",
    ),
    "sandbox.patients": ("Demopatiënten", "demo patients"),
    "sandbox.open_as": ("Open als {user}", "Open as {user}"),
    "sandbox.idp.title": ("Demo-inlogdienst — Kansrijke Start", "Demo sign-in service — Kansrijke Start"),
    "sandbox.idp.heading": ("Demo-inlogdienst: kies een medewerker", "Demo sign-in service: pick a staff member"),
    "sandbox.idp.text": (
        "Dit is een nagebootste inlogdienst (OpenID Connect) met verzonnen medewerkers van de ontvangers. Kies wie u bent: de inlogdienst meldt u aan bij de inbox van Kansrijke Start, zoals een echte inlogdienst van uw organisatie dat doet.",
        "A simulated sign-in service (OpenID Connect) with invented staff of the recipients. Pick who you are: it signs you in to the Kansrijke Start inbox as your organisation's own sign-in service would.",
    ),
    "sandbox.idp.sign_in_as": ("Inloggen als {name}", "Sign in as {name}"),
    "sandbox.idp.unknown_user": ("Onbekende demomedewerker.", "Unknown demo staff member."),
    # ── the inbox: sign-in of the recipients' staff (service/inbox, templates/inbox*.html) ────────────────
    "inbox.title": ("Inbox", "Inbox"),
    "inbox.heading": ("Inbox Kansrijke Start", "Kansrijke Start inbox"),
    "inbox.signed_in_as": ("Ingelogd als {name} voor {recipient}", "Signed in as {name} for {recipient}"),
    "inbox.logout": ("Uitloggen", "Sign out"),
    "inbox.login_again": ("Opnieuw inloggen", "Sign in again"),
    "inbox.logged_out.title": ("Uitgelogd", "Signed out"),
    "inbox.logged_out.heading": ("U bent uitgelogd", "You are signed out"),
    "inbox.logged_out.text": (
        "U bent uitgelogd bij de inbox van Kansrijke Start. Sluit de browser op een gedeelde computer.",
        "You are signed out of the Kansrijke Start inbox. Close the browser on a shared computer.",
    ),
    "inbox.pick.title": ("Kies uw inlogdienst", "Choose your sign-in service"),
    "inbox.pick.heading": ("Inloggen bij de inbox", "Sign in to the inbox"),
    "inbox.pick.text": (
        "Kies de inlogdienst van uw organisatie.",
        "Choose your organisation's sign-in service.",
    ),
    "inbox.failed.title": ("Inloggen mislukt", "Sign-in failed"),
    "inbox.failed.heading": ("Inloggen is niet gelukt", "Signing in did not succeed"),
    "inbox.failed.provider_message": ("Melding van de inlogdienst", "Message from the sign-in service"),
    "inbox.no_provider": (
        "Er is geen inlogdienst ingesteld voor deze installatie van Kansrijke Start. Uw applicatiebeheerder legt die vast (KS_EHR_REGISTRY).",
        "No sign-in service is registered with this installation. Your application manager registers one (KS_EHR_REGISTRY).",
    ),
    "inbox.unknown_provider": (
        "Deze inlogdienst is niet aangesloten op Kansrijke Start.",
        "This sign-in service is not registered with Kansrijke Start.",
    ),
    "inbox.unknown_user": (
        "U bent wel bekend bij de inlogdienst, maar niet als medewerker van een ontvanger van Kansrijke Start in deze regio. Vraag uw applicatiebeheerder om u toe te voegen.",
        "The sign-in service knows you, but not as staff of a Kansrijke Start recipient in this region. Ask your application manager to add you.",
    ),
    "inbox.regio_no_patients": (
        ("Als programmamanager van de regio ziet u de spiegelinformatie van de regio, geen verwijzingen of patiënten."),
        "As the region's programme manager you see the region's mirror figures, not referrals or patients.",
    ),
    "inbox.to_region_figures": ("Naar de spiegelinformatie van de regio", "To the region's mirror figures"),
    "inbox.unknown_state": (
        "Deze inlogpoging is verlopen of al gebruikt. Log opnieuw in.",
        "This sign-in attempt has expired or was used already. Please sign in again.",
    ),
    "inbox.other_browser": (
        "Deze inlogpoging kwam terug in een andere browser dan waarin ze begon. Log opnieuw in.",
        "This sign-in came back to another browser than the one it started in. Please sign in again.",
    ),
    "inbox.no_code": (
        "De inlogdienst stuurde geen inlogcode terug.",
        "The sign-in service returned no authorization code.",
    ),
    "inbox.refused_by_provider": ("De inlogdienst weigerde de aanmelding.", "The sign-in service refused the sign-in."),
    "inbox.identity": (
        "De inlogdienst kon niet betrouwbaar laten zien wie u bent. Log opnieuw in; lukt het dan niet, neem contact op met uw applicatiebeheerder.",
        "The sign-in service could not reliably show who you are. Sign in again; if that fails, contact your application manager.",
    ),
    "inbox.expired": (
        "Het bewijs van uw aanmelding is verlopen. Log opnieuw in; controleer anders of de klok van deze computer goed staat.",
        "The proof of your sign-in has expired. Sign in again, or check this computer's clock.",
    ),
    "inbox.nonce": (
        "Deze aanmelding hoort niet bij deze inlogpoging. Log opnieuw in.",
        "This sign-in does not belong to this attempt. Please sign in again.",
    ),
    "inbox.unreachable": (
        "De inlogdienst is nu niet bereikbaar. Probeer het over enkele minuten opnieuw.",
        "The sign-in service cannot be reached right now. Please try again in a few minutes.",
    ),
    "inbox.misconfigured": (
        "De inlogdienst is anders ingericht dan bij Kansrijke Start is vastgelegd. Neem contact op met uw applicatiebeheerder.",
        "The sign-in service is set up differently from its registration. Contact your application manager.",
    ),
    # ── the inbox: the recipient's worklist, a referral's detail and the steps on it (service/inbox) ─────────
    "inbox.open_count": ("{count} open verwijzingen.", "{count} open referrals."),
    "inbox.open_count_one": ("1 open verwijzing.", "1 open referral."),
    "inbox.overdue_count": ("{count} over de reactietermijn.", "{count} past the response time."),
    "inbox.nothing_open": (
        "Er staan geen open verwijzingen voor uw organisatie klaar.",
        "There are no open referrals for your organisation.",
    ),
    "inbox.caption": (
        "Open verwijzingen {first} t/m {last} van {total}, meest urgent en oudste eerst",
        "Open referrals {first} to {last} of {total}, most urgent and oldest first",
    ),
    "inbox.col.patient": ("Cliënt", "Client"),
    "inbox.col.priority": ("Prioriteit", "Priority"),
    "inbox.col.sent": ("Verstuurd", "Sent"),
    "inbox.col.due": ("Reageren uiterlijk", "Respond by"),
    "inbox.col.status": ("Stand", "Status"),
    "inbox.col.assignee": ("Toegewezen aan", "Assigned to"),  # also a referral assigned, not yet taken up
    "inbox.overdue": ("te laat", "overdue"),
    "inbox.nobody": ("nog niemand", "nobody yet"),
    "inbox.unknown_name": ("(naam onbekend)", "(name unknown)"),
    "inbox.pages": ("Bladeren door de werklijst", "Pages of the worklist"),
    "inbox.previous": ("Vorige", "Previous"),
    "inbox.next": ("Volgende", "Next"),
    "inbox.due_explained": (
        "Vandaag is het {today}. De reactietermijn telt in werkdagen vanaf het versturen, volgens de afspraken in de regio; weekenden en feestdagen tellen niet mee.",
        "Today is {today}. The response time counts in working days from sending, as agreed in the region; weekends and public holidays do not count.",
    ),
    "inbox.back_to_worklist": ("Terug naar de werklijst", "Back to the worklist"),
    "inbox.detail.title": ("Verwijzing", "Referral"),
    "inbox.detail.heading": ("Verwijzing: {name}", "Referral: {name}"),
    "inbox.detail.status": ("Stand", "Status"),
    "inbox.detail.reason": ("Reden van afwijzen", "Reason for declining"),
    "inbox.detail.outcome": ("Uitkomst", "Outcome"),
    "inbox.detail.message": ("Bericht aan de huisarts", "Message to the GP"),
    "inbox.detail.referral": ("De verwijzing", "The referral"),
    "inbox.detail.practice": ("Huisartsenpraktijk", "GP practice"),
    "inbox.detail.gp": ("Huisarts", "GP"),
    "inbox.detail.level": ("Inschatting huisarts", "The GP's assessment"),
    "inbox.detail.phase": ("Fase", "Phase"),
    "inbox.detail.due_date": ("Uitgerekende datum", "Due date"),
    "inbox.detail.child_birth_date": ("Geboortedatum kind", "Child's date of birth"),
    "inbox.detail.signals": ("Signalen", "Signals"),
    "inbox.detail.help_question": ("Hulpvraag", "Request for help"),
    "inbox.detail.consent": ("Toestemming", "Consent"),
    "inbox.detail.consent_given": ("gegeven", "given"),
    "inbox.detail.consent_not_active": ("niet (meer) geldig", "not (or no longer) valid"),
    "inbox.detail.not_given": ("niet vermeld", "not stated"),
    "inbox.detail.none_shared": ("geen", "none"),
    "inbox.detail.patient": ("Cliënt en contactgegevens", "Client and contact details"),
    "inbox.detail.name": ("Naam", "Name"),
    "inbox.detail.birth_date": ("Geboortedatum", "Date of birth"),
    "inbox.detail.bsn": ("BSN", "Citizen service number (BSN)"),
    "inbox.detail.phone": ("Telefoon", "Phone"),
    "inbox.detail.email": ("E-mail", "Email"),
    "inbox.detail.address": ("Adres", "Address"),
    "inbox.detail.language": ("Taal", "Language"),
    "inbox.detail.actions": ("Wat doet u met deze verwijzing?", "What do you do with this referral?"),
    "inbox.detail.no_more_steps": (
        "Deze verwijzing is afgehandeld; er zijn geen stappen meer mogelijk.",
        "This referral has been dealt with; no further steps are possible.",
    ),
    "inbox.detail.cancelled_no_steps": (
        "Deze verwijzing is ingetrokken; er zijn geen stappen meer mogelijk.",
        "This referral has been cancelled; no further steps are possible.",
    ),
    "inbox.action.accept": ("Aannemen", "Accept"),
    "inbox.action.first-contact": ("Eerste contact met het gezin gelegd", "First contact with the family made"),
    "inbox.action.close_heading": ("Afsluiten met een uitkomst", "Close with an outcome"),
    "inbox.action.outcome": ("Uitkomst", "Outcome"),
    "inbox.action.message": ("Kort bericht voor de huisarts", "Short message for the GP"),
    "inbox.action.message_hint": (
        "De huisarts ziet dit bij de verwijzing; hoogstens {max} tekens.",
        "The GP sees this with the referral; {max} characters at most.",
    ),
    "inbox.action.close": ("Afsluiten en bericht versturen", "Close and send the message"),
    "inbox.action.decline_heading": ("Afwijzen", "Decline"),
    "inbox.action.reason": ("Reden", "Reason"),
    "inbox.action.decline": ("Verwijzing afwijzen", "Decline the referral"),
    "inbox.action.assign_heading": ("Toewijzen aan een collega", "Assign to a colleague"),
    "inbox.action.colleague": ("Collega", "Colleague"),
    "inbox.action.assign": ("Toewijzen", "Assign"),
    "inbox.action.choose": ("— kies —", "— choose —"),
    "inbox.done.accept": ("U heeft de verwijzing aangenomen.", "You accepted the referral."),
    "inbox.done.decline": ("U heeft de verwijzing afgewezen.", "You declined the referral."),
    "inbox.done.first-contact": ("Het eerste contact is vastgelegd.", "The first contact is recorded."),
    "inbox.done.close": (
        "De verwijzing is afgesloten; de huisarts krijgt de uitkomst en uw bericht.",
        "The referral is closed; the GP gets the outcome and your message.",
    ),
    "inbox.done.assign": ("De verwijzing is toegewezen.", "The referral is assigned."),
    "inbox.done.expired": (
        "Uw sessie was verlopen: uw laatste stap is niet opgeslagen. Hieronder ziet u de verwijzing zoals die nu is; doe de stap zo nodig opnieuw.",
        "Your session had expired: your last step was not saved. Below is the referral as it is now; take the step again if needed.",
    ),
    "inbox.conflict_by": (
        "Al opgepakt door {who} ({status}). Hieronder ziet u de verwijzing zoals die nu is; uw stap is niet doorgevoerd.",
        "Already taken up by {who} ({status}). Below is the referral as it is now; your step was not made.",
    ),
    "inbox.conflict": (
        "Al gewijzigd door een collega ({status}). Hieronder ziet u de verwijzing zoals die nu is; uw stap is niet doorgevoerd.",
        "Already changed by a colleague ({status}). Below is the referral as it is now; your step was not made.",
    ),
    "inbox.no_version": (
        "Het formulier mist de versie van de verwijzing. Open de verwijzing opnieuw.",
        "The form lacks the referral's version. Open the referral again.",
    ),
    "inbox.csrf": (
        "Dit formulier is verlopen of komt niet van deze pagina. Open de pagina opnieuw.",
        "This form has expired or did not come from this page. Open the page again.",
    ),
    "inbox.no_server": (
        "Voor uw organisatie is geen FHIR-server ingesteld. Neem contact op met uw applicatiebeheerder.",
        "No FHIR server is set up for your organisation. Contact your application manager.",
    ),
    "inbox.server_unreachable": (
        "De server van uw organisatie geeft nu geen antwoord. Probeer het over enkele minuten opnieuw.",
        "Your organisation's server does not answer right now. Please try again in a few minutes.",
    ),
    "inbox.problem.title": ("Dat lukte niet", "That did not work"),
    "inbox.problem.heading": ("Dat lukte niet", "That did not work"),
    "review.consent_verbal": ("Mondeling", "Verbal"),
    "review.consent_written": ("Schriftelijk", "Written"),
    # ── the pages' templates (service/templates): t('key') ──────────────────────────────────────────────
    "chrome.practice_title": ("De praktijk namens wie u verwijst", "The practice you refer for"),
    "chrome.patient": ("Patiënt", "Patient"),
    "chrome.born": ("geboren", "born"),
    "chrome.other_language": ("English", "Nederlands"),  # the language switch names the other language
    "chrome.practice_referrals": ("Verwijzingen van de praktijk", "The practice's referrals"),
    "chrome.practice_mirror": ("Spiegelinformatie", "Mirror figures"),
    "errors.summary_title": ("Er is iets niet goed ingevuld", "Something is not filled in correctly"),
    "items.suggestion": ("suggestie", "suggestion"),
    "items.error": ("Fout:", "Error:"),
    "items.required": ("verplicht", "required"),
    "items.date_format": ("dd-mm-jjjj", "dd-mm-yyyy"),
    "items.date_example": (
        "Dag-maand-jaar (dd-mm-jjjj), bijvoorbeeld 01-03-2027.",
        "Day-month-year (dd-mm-yyyy), e.g. 01-03-2027.",
    ),
    "items.tick_what_applies": ("Vink aan wat van toepassing is.", "Tick what applies."),
    "items.opening_sentence_for": ("Openingszin voor het gesprek", "Opening sentence for the conversation"),
    "items.none": ("— geen —", "— none —"),
    "items.at_most": ("Hooguit", "At most"),
    "items.characters": ("tekens.", "characters."),
    "meldcode.acute_danger_call": ("Acuut gevaar? Bel 112.", "Acute danger? Call 112."),
    "meldcode.advice_or_reporting": ("Advies of melden: ", "Advice or reporting: "),
    "meldcode.free_day_and": ("(gratis, dag en nacht bereikbaar).", "(free, day and night)."),
    "meldcode.aandachtsfunctionaris": (
        "Aandachtsfunctionaris in uw praktijk: ",
        "The practice's designated officer for domestic violence and child abuse: ",
    ),
    "meldcode.consult_aandachtsfunctionaris": (
        "Overleg met de aandachtsfunctionaris huiselijk geweld en kindermishandeling van uw praktijk (deze is nog niet ingesteld in Kansrijke Start: KS_AANDACHTSFUNCTIONARIS).",
        "Consult your practice's designated officer for domestic violence and child abuse (not yet set in Kansrijke Start: KS_AANDACHTSFUNCTIONARIS).",
    ),
    "meldcode.the_five_steps": ("De vijf stappen van de KNMG-meldcode", "The five steps of the KNMG reporting code"),
    "meldcode.steps_of_the": ("Stappen van de meldcode", "Steps of the reporting code"),
    "meldcode.step": ("Stap", "Step"),
    "meldcode.do_the_child": (
        "Doe de kindcheck: zijn er kinderen in het huishouden (een ongeboren kind telt mee)? Leg aantal en leeftijden vast in het dossier.",
        "Do the child check: are there children in the household (an unborn child counts)? Record number and ages in the record.",
    ),
    "pages.this_service_never": (
        "Deze dienst stuurt nooit iets naar Veilig Thuis.",
        "This service never sends anything to Veilig Thuis.",
    ),
    "meldcode.you_report_yourself": (
        "Melden doet u zelf, volgens de meldcode. Een verwijzing naar de JGZ vervangt de meldcode niet.",
        "You report yourself, following the reporting code. A JGZ referral does not replace the reporting code.",
    ),
    "page.other_window.title": (
        "Dit venster hoort bij een eerdere opening",
        "This window belongs to an earlier opening",
    ),
    "page.other_window.text": (
        "In deze browser is Kansrijke Start intussen opnieuw geopend, mogelijk voor een andere patiënt. Wat u in dit venster deed, is niet verwerkt. Sluit dit venster en werk verder in het venster dat u het laatst opende, of open Kansrijke Start opnieuw vanuit het dossier van de patiënt.",
        "Kansrijke Start has since been opened again in this browser, perhaps for another patient. What you did in this window has not been processed. Close this window and go on in the one you opened last, or open Kansrijke Start again from the patient's record.",
    ),
    "panel.other_window": (
        "Kansrijke Start is in deze browser opnieuw geopend, mogelijk voor een andere patiënt: dit venster werkt niet meer. Sluit het, of open de app opnieuw vanuit het dossier van de patiënt.",
        "Kansrijke Start has been opened again in this browser, perhaps for another patient: this window no longer works. Close it, or open the app again from the patient's record.",
    ),  # app.js, from the form's data-panel-other-window
    "panel.update_failed": (
        "Het voorstel kon niet worden bijgewerkt; de controle vóór versturen blijft gelden.",
        "The suggestion could not be updated; the check before sending still applies.",
    ),  # app.js, from the form's data-panel-failed
    "panel.what_the_rules": ("Wat de regels voorstellen", "What the rules suggest"),
    "pages.first_reporting_code": (
        "Eerst: meldcode huiselijk geweld en kindermishandeling",
        "First: reporting code for domestic violence and child abuse",
    ),
    "pages.safety": ("Veiligheid", "Safety"),
    "panel.no_suggestion_yet": (
        "Het voorstel kan nog niet worden berekend; vul het formulier verder in.",
        "No suggestion yet; fill in more of the form.",
    ),
    "pages.level": ("Niveau", "Level"),
    "pages.adjusted_computed_was": ("Aangepast; berekend was:", "Adjusted; computed was:"),
    "pages.reason": ("Reden:", "Reason:"),
    "pages.because": ("Omdat:", "Because:"),
    "panel.referrals": ("Verwijzingen", "Referrals"),
    "panel.no_referral_suggested": ("Geen verwijzing voorgesteld.", "No referral suggested."),
    "panel.priority": ("prioriteit", "priority"),
    "panel.consent_missing_will": ("toestemming ontbreekt: wordt niet verstuurd", "consent missing: will not be sent"),
    "pages.based_on": ("Op grond van:", "Based on:"),
    "panel.advice": ("Advies", "Advice"),
    "panel.not_filled_in": ("Nog niet goed ingevuld:", "Not filled in correctly yet:"),
    "panel.rules": ("Regels:", "Rules:"),
    # the Meldcode strip in the live panel (its five steps are on the Meldcode step) and the narrow screens' bar
    "panel.meldcode_strip": (
        "Huiselijk geweld: volg de meldcode — bij acuut gevaar 112, Veilig Thuis 0800-2000",
        "Domestic violence: follow the reporting code — acute danger 112, Veilig Thuis 0800-2000",
    ),
    "panel.meldcode_steps_later": (
        "De vijf stappen van de meldcode en wat u vastlegt volgen na ‘{button}’.",
        'The five steps of the reporting code and what you record come after "{button}".',
    ),
    "panel.bar_no_suggestion": ("Nog geen voorstel", "No suggestion yet"),
    "panel.bar_to": ("Verwijzen naar:", "Refer to:"),
    "panel.bar_open": ("Bekijk het voorstel", "See the suggestion"),
    "base.skip_to_content": ("Naar de inhoud", "Skip to content"),
    "page.to_the_form": ("Naar het formulier", "To the form"),
    "pages.error": ("Fout: ", "Error: "),
    "form.signalling": ("Signalering", "Signalling"),
    "form.signalling_vulnerability": ("Signalering kwetsbaarheid", "Signalling vulnerability"),
    "form.draft_saved": (
        "Concept opgeslagen. Het wordt weer geopend wanneer deze patiënt opnieuw wordt gekozen.",
        "Draft saved. It opens again when this patient is chosen again.",
    ),
    "form.draft_opened": (
        "Concept opgeslagen door {name} op {date} om {time}.",
        "Draft saved by {name} on {date} at {time}.",
    ),
    "form.draft_opened_undated": (
        "Een opgeslagen concept voor deze patiënt is geopend.",
        "A saved draft for this patient has been opened.",
    ),
    # who saved a draft, when the EHR gave no name (service/web/user.py)
    "user.the_gp": ("de huisarts", "the GP"),
    "user.the_poh": ("de POH Jeugd", "the POH Jeugd"),
    "user.the_assistant": ("de doktersassistent", "the doctor's assistant"),
    "user.a_colleague": ("een collega", "a colleague"),
    "form.not_prefilled": (
        "Het formulier is niet vooraf ingevuld; vul de fase zelf in.",
        "The form was not pre-filled; fill in the phase yourself.",
    ),
    "form.referred_from_the": ("Eerder verwezen vanuit de praktijk", "Referred from the practice before"),
    "form.internal_in_the": ("intern, in de praktijk", "internal, in the practice"),
    "form.at_the_recipient": ("bij de ontvanger", "at the recipient"),
    "form.status_unavailable": (
        "De status bij de ontvanger kon nu niet worden opgehaald.",
        "The status at the recipient could not be fetched now.",
    ),
    "form.may_not_send": (
        "U kunt dit formulier invullen en als concept opslaan. Versturen doet de huisarts of de POH Jeugd.",
        "You can fill in this form and save it as a draft. The GP or the POH Jeugd sends it.",
    ),
    "form.check_and_continue": ("Controleren en verder", "Check and continue"),
    "form.update_suggestion": ("Voorstel bijwerken", "Update suggestion"),
    "pages.save_draft": ("Concept opslaan", "Save draft"),
    "meldcode.reporting_code": ("Meldcode", "Reporting code"),
    # the step indicator: the form, the Meldcode step when it is due, the review (2 steps without the Meldcode)
    "steps.form": ("Stap 1 van {total}: signaleren", "Step 1 of {total}: signalling"),
    "steps.meldcode": ("Stap 2 van 3: Meldcode en veiligheid", "Step 2 of 3: reporting code and safety"),
    "steps.review": (
        "Stap {total} van {total}: controleren, toestemming, versturen",
        "Step {total} of {total}: review, consent, send",
    ),
    "meldcode.you_ticked_domestic": (
        "U hebt huiselijk geweld aangevinkt. Volg de meldcode voordat u verder gaat met de verwijzing.",
        "You ticked domestic violence. Follow the reporting code before you continue with the referral.",
    ),
    "meldcode.has_the_patient": (
        "Is de patiënt geïnformeerd over uw zorgen?",
        "Has the patient been told about your concerns?",
    ),
    "meldcode.inform_the_patient": (
        "Informeer de patiënt vooraf als dat veilig kan; leg anders vast waarom niet.",
        "Inform the patient beforehand when that is safe; otherwise record why not.",
    ),
    "meldcode.yes": ("Ja", "Yes"),
    "meldcode.no_because_it": (
        "Nee, omdat het niet veilig is of om een andere reden",
        "No, because it is not safe or for another reason",
    ),
    "meldcode.reason_if_not": ("Reden (als niet geïnformeerd)", "Reason (if not informed)"),
    "meldcode.facts_for_your": (
        "Feiten (voor uw eigen dossier; gaat niet mee met de verwijzing)",
        "Facts (for your own record; not sent with the referral)",
    ),
    "meldcode.describe_what_you": (
        "Beschrijf wat u zag en hoorde, geen interpretaties. Komt in de samenvatting voor het HIS.",
        "Describe what you saw and heard, not interpretations. Goes into the summary for the HIS.",
    ),
    "meldcode.children_from_form": (
        "Ingevuld op het formulier (kindcheck); aanpassen kan daar.",
        "Filled in on the form (child check); you can change it there.",
    ),
    "meldcode.continue_to_review": ("Verder naar controleren", "Continue to review"),
    "pages.back_to_form": ("Terug naar het formulier", "Back to the form"),
    "review.review_and_send": ("Controleren en versturen", "Review and send"),
    "review.draft_saved": ("Concept opgeslagen.", "Draft saved."),
    "review.reporting_code_steps": ("Stappen afgevinkt in de meldcode:", "Reporting code steps ticked:"),
    # DOMAIN.md §3.3: inform the patient unless that is unsafe; who receives the referral may phone her at home
    "review.not_informed_contact": (
        "U gaf aan dat de patiënt niet is geïnformeerd over uw zorgen. Wie de verwijzing ontvangt, krijgt haar adres en telefoonnummer en kan contact met haar opnemen: overleg zo nodig eerst met de ontvanger of met Veilig Thuis over een veilige manier.",
        "You indicated that the patient has not been informed of your concerns. Whoever receives the referral gets her address and phone number and may contact her: if needed, first agree a safe way with the recipient or with Veilig Thuis.",
    ),
    "review.review_the_reporting": ("Meldcode opnieuw bekijken", "Review the reporting code again"),
    "review.what_goes_to": ("Wat gaat naar wie", "What goes to whom"),
    "review.no_referral_suggested": (
        "Geen verwijzing voorgesteld. Bij versturen wordt alleen de vragenlijst vastgelegd in het EPD; er gaat niets buiten de praktijk.",
        "No referral suggested. Sending records the questionnaire in the EHR only; nothing leaves the practice.",
    ),
    "review.organisation": ("Organisatie", "Organisation"),
    "review.priority": ("Prioriteit", "Priority"),
    "review.goes_to": ("Gaat naar", "Goes to"),
    "review.stays_in_the": ("blijft in de praktijk (EPD)", "stays in the practice (EHR)"),
    "review.receives": ("Krijgt", "Receives"),
    "review.internal_gets": ("Een verwijzing en een taak voor", "A referral and a task for"),
    "review.internal_gets_rest": (
        "in het EPD van de praktijk, met de vragenlijst. Er gaat niets buiten de praktijk.",
        "in the practice's EHR, with the questionnaire. Nothing leaves the practice.",
    ),
    "review.external_gets": (
        "Met toestemming: de verwijzing (prioriteit, regel, uw praktijk als verwijzer) met alleen:",
        "With consent: the referral (priority, rule, your practice as referrer) with only:",
    ),
    "review.does_not_receive": ("Krijgt niet:", "Does not receive:"),
    "review.nothing": ("niets", "nothing"),
    "review.without_consent_nothing": ("zonder toestemming gaat er niets naar", "without consent nothing goes to"),
    "review.why": ("Waarom", "Why"),
    "review.rule": ("regel", "rule"),
    "review.the_patient_consents": (
        "De patiënt geeft toestemming om deze gegevens te delen met",
        "The patient consents to sharing these data with",
    ),
    "review.will_be_sent": ("Wordt verstuurd.", "Will be sent."),
    # for who cannot send (the doktersassistent): she asks no consent; the GP or POH asks it and sends
    "review.can_be_sent": (
        "De huisarts of POH Jeugd kan dit versturen, met toestemming van de patiënt.",
        "The GP or POH Jeugd can send this, with the patient's consent.",
    ),
    "review.will_not_be": (
        "Wordt NIET verstuurd: geen toestemming. Zonder toestemming gaat er niets naar deze ontvanger.",
        "Will NOT be sent: no consent. Without consent nothing goes to this recipient.",
    ),
    "review.internal_referral_within": (
        "Interne verwijzing binnen de praktijk: wordt vastgelegd in het EPD, niet verstuurd; vertel de patiënt dat dit gebeurt.",
        "Internal referral within the practice: recorded in the EHR, not sent; tell the patient this happens.",
    ),
    "review.recent_referral": (
        "Let op: {name} kreeg op {date} al een verwijzing voor deze patiënt ({via}).",
        "Note: {name} already received a referral for this patient on {date} ({via}).",
    ),
    "recent.via.form": ("via het formulier", "through the form"),
    "recent.via.api": ("via het HIS/de API", "through the HIS/the API"),
    "review.nothing_leaves_the": ("Er gaat niets buiten de praktijk.", "Nothing leaves the practice."),
    "review.everything_is_only": (
        "Alles wordt alleen vastgelegd in het EPD van de praktijk.",
        "Everything is only recorded in the practice's EHR.",
    ),
    "review.how_consent_was": ("Wijze van toestemming", "How consent was given"),
    "review.never_leaves_the": ("Gaat nooit mee naar buiten de praktijk", "Never leaves the practice"),
    "review.the_complete_questionnaire": (
        "de volledige vragenlijst: een ontvanger krijgt alleen wat hierboven bij die ontvanger staat",
        "the complete questionnaire: a recipient gets only what is listed above for that recipient",
    ),
    "review.the_child_check": (
        "de kindcheck (kinderen in het huishouden)",
        "the child check (children in the household)",
    ),
    "review.your_own_judgement": (
        "uw eigen oordeel over het niveau en de reden daarvoor",
        "your own judgement of the level and its reason",
    ),
    "review.final_level_only": (
        "een ontvanger die het niveau krijgt, ziet alleen het uiteindelijke niveau",
        "a recipient that gets the level sees only the final level",
    ),
    "review.the_notes_on": ("de aantekeningen bij de meldcode", "the notes on the reporting code"),
    "review.signals_that_were": ("signalen die niet zijn aangevinkt", "signals that were not ticked"),
    "review.advice_not_sent": ("Advies (wordt niet verstuurd)", "Advice (not sent)"),
    "review.send_and_record": ("Versturen en vastleggen", "Send and record"),
    # when nothing would leave the practice, the send asks to confirm that (service/web/send.py)
    "review.record_only": ("Alleen vastleggen, niets versturen", "Record only, send nothing"),
    "review.record_only_explained": (
        "Er gaat niets naar buiten de praktijk; alleen het dossier wordt bijgewerkt: de vragenlijst komt in het EPD.",
        "Nothing leaves the practice; only the record is updated: the questionnaire goes into the EHR.",
    ),
    "review.record_only_internal": (
        "Er gaat niets naar buiten de praktijk; alleen het dossier wordt bijgewerkt: de vragenlijst en de interne verwijzing komen in het EPD.",
        "Nothing leaves the practice; only the record is updated: the questionnaire and the internal referral go into the EHR.",
    ),
    "review.may_not_send": (
        "Versturen mag alleen de huisarts of de POH Jeugd. Sla het concept op; de huisarts kan het afmaken.",
        "Only the GP or the POH Jeugd may send. Save the draft; the GP can finish it.",
    ),
    "review.record_consent_and": (
        "Toestemming vastleggen en overzicht bijwerken",
        "Record consent and update the overview",
    ),
    "sent.sent": ("Verstuurd", "Sent"),
    "sent.recorded": ("Vastgelegd", "Recorded"),
    "sent.recorded_and_sent": ("Vastgelegd en verstuurd", "Recorded and sent"),
    "sent.not_recorded": ("Niet vastgelegd in het EPD", "Not recorded in the EHR"),
    "sent.status": ("Status", "Status"),
    "sent.queued_explained": (
        "De server van een ontvanger was niet bereikbaar. De verwijzing staat veilig in de wachtrij en gaat vanzelf, één keer, alsnog weg.",
        "A recipient's server could not be reached. The referral is safely queued and will go out by itself, once.",
    ),
    "sent.dead_explained": (
        "De server van een ontvanger weigerde de verwijzing. Neem contact op met de beheerder; na herstel kan zij opnieuw worden verstuurd.",
        "A recipient's server refused the referral. Contact the administrator; after a fix it can be sent again.",
    ),
    "sent.internal_recorded": (
        "interne verwijzing: blijft in de praktijk, vastgelegd in het EPD",
        "internal referral: stays in the practice, recorded in the EHR",
    ),
    "sent.internal_not_recorded": (
        "interne verwijzing: blijft in de praktijk, maar is NIET vastgelegd in het EPD (zie hieronder)",
        "internal referral: stays in the practice, but is NOT recorded in the EHR (see below)",
    ),
    "sent.to": ("naar", "to"),
    "sent.queued_not_arrived": ("in de wachtrij, nog niet aangekomen", "queued, not arrived yet"),
    "sent.refused_not_arrived": ("geweigerd, niet aangekomen", "refused, not arrived"),
    "sent.withdrawn_never_sent": (
        "ingetrokken en nooit verstuurd; de ontvanger heeft de verwijzing niet gekregen",
        "cancelled and never sent; the recipient did not receive the referral",
    ),
    "sent.withdrawn_by": ("{reason} op {when}.", "{reason} on {when}."),
    "sent.referral_number": ("verwijzingsnummer", "referral number"),
    "sent.at_the_recipient": ("Bij de ontvanger:", "At the recipient:"),
    "sent.fetch_the_status": ("Status opnieuw ophalen", "Fetch the status again"),
    "sent.status_unavailable": (
        "de status bij de ontvanger kon nu niet worden opgehaald.",
        "the status at the recipient could not be fetched now.",
    ),
    "sent.check_again_whether": ("Opnieuw kijken of hij al is aangekomen", "Check again whether it has arrived"),
    # the confirmation of a send whose only effect is the practice's own record (no status "afgeleverd" then)
    "sent.recorded_only": (
        "Vastgelegd in het dossier van de praktijk; er is geen verwijzing naar buiten verstuurd.",
        "Recorded in the practice's record; no referral was sent outside the practice.",
    ),
    "sent.no_referral_was": ("Er is geen verwijzing gemaakt.", "No referral was made."),
    "sent.nothing_outside": (
        "Er is geen verwijzing naar buiten de praktijk verstuurd.",
        "No referral was sent outside the practice.",
    ),
    "sent.nothing_sent_to": ("Niets verstuurd naar", "Nothing sent to"),
    "sent.no_consent": ("geen toestemming", "no consent"),
    "sent.delivered_means": (
        "Afgeleverd betekent: de ontvanger heeft de verwijzing; of zij wordt opgepakt, ziet u aan de taak van de ontvanger.",
        "Delivered means: the recipient has the referral; whether it is taken up shows in the recipient's task.",
    ),
    "sent.in_the_ehr": ("In het EPD", "In the EHR"),
    "sent.also_recorded_in": ("Vastgelegd in het EPD van de praktijk:", "Recorded in the practice's EHR:"),
    "sent.ehr_questionnaire": ("de ingevulde vragenlijst", "the completed questionnaire"),
    "sent.ehr_referral": (
        "de verwijzing naar {name} (de kopie van de praktijk)",
        "the referral to {name} (the practice's copy)",
    ),
    "sent.ehr_internal": (
        "de interne verwijzing met een taak voor {name}",
        "the internal referral with a task for {name}",
    ),
    "sent.sent_anyway": (
        "De verwijzing is wel verstuurd (zie hierboven).",
        "The referral was sent anyway (see above).",
    ),
    "sent.internal_not_in_ehr": (
        "Een interne verwijzing staat daardoor niet in het EPD.",
        "An internal referral is therefore not in the EHR.",
    ),
    "sent.paste_the_summary": ("Plak de samenvatting hieronder in het HIS.", "Paste the summary below into the HIS."),
    "sent.summary_for_the": ("Samenvatting voor het HIS", "Summary for the HIS"),
    "sent.copied": ("Gekopieerd.", "Copied."),
    "sent.copying_failed_select": (
        "Kopiëren lukte niet: selecteer de tekst en kopieer zelf.",
        "Copying failed: select the text and copy it yourself.",
    ),
    "sent.copy_the_summary": ("Kopieer de samenvatting", "Copy the summary"),
    "sent.new_form_for": ("Nieuw formulier voor deze patiënt", "New form for this patient"),
    # the page's folded part with the FHIR ids, for the administrator or a support question (never in the sentences)
    "sent.technical": ("Technische gegevens", "Technical details"),
    "sent.technical_explained": (
        "Voor de beheerder of de helpdesk; niet nodig voor het dossier.",
        "For the administrator or the helpdesk; not needed for the record.",
    ),
    "sent.submission_id": ("Inzendingsnummer", "Submission number"),
    "sent.written_references": ("Teruggeschreven naar het EPD", "Written back to the EHR"),
}
