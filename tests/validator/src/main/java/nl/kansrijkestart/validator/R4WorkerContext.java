package nl.kansrijkestart.validator;

import ca.uhn.fhir.context.support.IValidationSupport;
import org.hl7.fhir.common.hapi.validation.validator.WorkerContextValidationSupportAdapter;

/**
 * HAPI's worker context, reporting the FHIR version as the core validator lists published versions ("4.0", not
 * "4.0.1"). org.hl7.fhir.validation 6.7.9 (HAPI 8.8.1) checks an extension's element context once per published
 * core version from VersionUtilities.iterateCorePublishedVersions(v, v), which answers "4.0" for "4.0.1"; since
 * versionMatches("4.0", "4.0.1") is false it then tries to download hl7.fhir.r4.core for "another" version and
 * reports ERROR_GENERATING_SNAPSHOT for every extension of ours. Reporting "4.0" makes it check the context in this
 * (the only) R4 context; over all our artefacts it changes nothing else (tests/validator/README.md).
 */
final class R4WorkerContext extends WorkerContextValidationSupportAdapter {

  R4WorkerContext(IValidationSupport support) {
    super(support);
  }

  @Override
  public String getVersion() {
    return "4.0";
  }
}
