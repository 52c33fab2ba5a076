package nl.kansrijkestart.validator;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.parser.IParser;
import ca.uhn.fhir.parser.StrictErrorHandler;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.utilities.settings.FhirSettings;

/**
 * Validates FHIR R4 JSON files with HAPI's FhirInstanceValidator (the HL7 reference validator,
 * org.hl7.fhir.validation), fully offline, and writes every message as JSON.
 *
 * <pre>
 * java -cp ... nl.kansrijkestart.validator.Main --conformance DIR --out results.json --list files.txt
 * </pre>
 *
 * <p>DIR holds our own conformance resources (Questionnaire, CodeSystems, ValueSets, StructureDefinitions, ...):
 * each is loaded into a PrePopulatedValidationSupport, so references to them resolve by canonical url (a
 * QuestionnaireResponse is checked against its Questionnaire, R4 QuestionnaireResponse "questionnaire"). The R4
 * core definitions come from hapi-fhir-validation-resources-r4; no terminology server, no package download. Each
 * line of files.txt names one file to validate. Exit code 0 when the run completed (whatever it found), 2 on bad
 * usage, 1 on an unreadable file.
 */
public final class Main {

  private Main() {}

  public static void main(String[] args) throws IOException {
    Path conformance = null;
    Path out = null;
    Path list = null;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--conformance" -> conformance = Path.of(args[i + 1]);
        case "--out" -> out = Path.of(args[i + 1]);
        case "--list" -> list = Path.of(args[i + 1]);
        default -> usage("unknown option " + args[i]);
      }
    }
    if (conformance == null || out == null || list == null || args.length % 2 != 0) {
      usage("--conformance, --out and --list are required");
    }
    long started = System.nanoTime();
    FhirContext ctx = FhirContext.forR4Cached();
    FhirSettings.setProhibitNetworkAccess(true); // no package server, no terminology server
    PrePopulatedValidationSupport ours = new PrePopulatedValidationSupport(ctx);
    CanonicalResources canonical = new CanonicalResources(ctx);
    for (IBaseResource resource : loadConformance(ctx, conformance)) {
      ours.addResource(resource);
      canonical.add(resource);
    }
    FhirValidator validator = newValidator(ctx, ours, canonical);
    List<String> files = Files.readAllLines(list, StandardCharsets.UTF_8).stream()
        .map(String::strip).filter(s -> !s.isEmpty()).toList();
    long ready = System.nanoTime();
    try (Writer w = Files.newBufferedWriter(out, StandardCharsets.UTF_8)) {
      String name = "HAPI FHIR " + ca.uhn.fhir.util.VersionUtil.getVersion() + " FhirInstanceValidator";
      int loaded = canonical.fetchAllConformanceResources().size();
      w.write("{\"validator\": " + Json.quote(name) + ",\n \"conformanceResources\": " + loaded + ",\n \"files\": [");
      String sep = "\n";
      for (String file : files) {
        w.write(sep + "  {\"file\": " + Json.quote(file) + ", \"messages\": [");
        w.write(String.join(",", validate(validator, Path.of(file)).stream().map(Main::message).toList()));
        w.write("]}");
        sep = ",\n";
      }
      long done = System.nanoTime();
      w.write("\n ],\n \"startupSeconds\": " + seconds(started, ready) + ",\n \"validationSeconds\": "
          + seconds(ready, done) + "\n}\n");
    }
  }

  /** The validator's messages on one file; an exception inside the validator becomes one fatal message. */
  static List<SingleValidationMessage> validate(FhirValidator validator, Path file) throws IOException {
    String body = Files.readString(file, StandardCharsets.UTF_8);
    try {
      ValidationResult result = validator.validateWithResult(body);
      return result.getMessages();
    } catch (RuntimeException e) {
      SingleValidationMessage m = new SingleValidationMessage();
      m.setSeverity(ResultSeverityEnum.FATAL);
      m.setMessageId("VALIDATOR_EXCEPTION");
      m.setMessage("The validator failed on this file: " + e);
      return List.of(m);
    }
  }

  /** Every *.json resource in DIR, in file name order. */
  static List<IBaseResource> loadConformance(FhirContext ctx, Path dir) throws IOException {
    List<IBaseResource> resources = new ArrayList<>();
    IParser parser = ctx.newJsonParser().setParserErrorHandler(new StrictErrorHandler());
    List<Path> paths = new ArrayList<>();
    try (Stream<Path> s = Files.list(dir)) {
      s.filter(p -> p.toString().endsWith(".json")).sorted().forEach(paths::add);
    }
    for (Path p : paths) {
      resources.add(parser.parseResource(Files.readString(p, StandardCharsets.UTF_8)));
    }
    return resources;
  }

  /**
   * The chain HAPI's validation documentation describes for offline use: our resources first, then the R4 core
   * definitions, the common code systems (UCUM, BCP-47, ISO 3166, MIME types, ...), an in-memory terminology
   * service over every CodeSystem and ValueSet the chain knows, and snapshot generation for differential-only
   * StructureDefinitions (ours).
   */
  static FhirValidator newValidator(
      FhirContext ctx, PrePopulatedValidationSupport ours, CanonicalResources canonical) {
    ValidationSupportChain chain = new ValidationSupportChain(
        ours,
        canonical,
        new DefaultProfileValidationSupport(ctx),
        new CommonCodeSystemsTerminologyService(ctx),
        new InMemoryTerminologyServerValidationSupport(ctx),
        new SnapshotGeneratingValidationSupport(ctx),
        // Last: a code system nobody in the chain knows (LOINC, SNOMED CT, ICPC-2 without a terminology
        // server) is reported as a warning naming it, not an error; tests/validator/expected-warnings.yaml
        // lists exactly which systems may be unknown.
        unknownCodeSystemsWarn(ctx));
    FhirInstanceValidator module = new FhirInstanceValidator(chain);
    module.setWrappedWorkerContext(chain, new R4WorkerContext(chain));
    module.setAnyExtensionsAllowed(true); // an unknown extension is reported, not an error (the default)
    module.setErrorForUnknownProfiles(true);
    FhirValidator validator = ctx.newValidator();
    validator.registerValidatorModule(module);
    validator.setConcurrentBundleValidation(false);
    return validator;
  }

  private static UnknownCodeSystemWarningValidationSupport unknownCodeSystemsWarn(FhirContext ctx) {
    UnknownCodeSystemWarningValidationSupport support = new UnknownCodeSystemWarningValidationSupport(ctx);
    support.setNonExistentCodeSystemSeverity(IValidationSupport.IssueSeverity.WARNING);
    return support;
  }

  private static String message(SingleValidationMessage m) {
    return "\n    {\"severity\": " + Json.quote(m.getSeverity().getCode())
        + ", \"location\": " + Json.quote(m.getLocationString())
        + ", \"line\": " + m.getLocationLine() + ", \"col\": " + m.getLocationCol()
        + ", \"messageId\": " + Json.quote(m.getMessageId())
        + ", \"message\": " + Json.quote(m.getMessage()) + "}";
  }

  private static String seconds(long from, long to) {
    return String.format(java.util.Locale.ROOT, "%.2f", (to - from) / 1e9);
  }

  private static void usage(String why) {
    System.err.println("usage: Main --conformance DIR --out results.json --list files.txt (" + why + ")");
    System.exit(2);
  }
}
