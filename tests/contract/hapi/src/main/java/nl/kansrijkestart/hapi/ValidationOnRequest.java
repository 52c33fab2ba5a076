package nl.kansrijkestart.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.interceptor.RequestValidatingInterceptor;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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

/**
 * HAPI's RequestValidatingInterceptor (validation on write: an error in the request body refuses it with 422),
 * against the R4 core definitions (hapi-fhir-validation-resources-r4) and the project's own StructureDefinitions,
 * CodeSystems, ValueSets and Questionnaire, all offline. It acts only on requests carrying {@value #HEADER}{@code : true}, so the
 * same server also plays the plain hapiproject/hapi (which validates nothing) for the other contract tests.
 */
@Interceptor
public final class ValidationOnRequest {

	static final String HEADER = "X-Validate-On-Write";
	/** The response header with the validation's OperationOutcome (warnings included), for the tests to list. */
	static final String OUTCOME_HEADER = "X-Validation-Outcome";
	static final int OUTCOME_HEADER_MAX = 60_000;
	private static final List<String> TYPES = List.of("StructureDefinition", "CodeSystem", "ValueSet", "Questionnaire");
	private final RequestValidatingInterceptor validating;

	private ValidationOnRequest(RequestValidatingInterceptor validating) {
		this.validating = validating;
	}

	static ValidationOnRequest create(FhirContext fhir, HapiTestServer.ConformanceDir conformance) {
		PrePopulatedValidationSupport own = new PrePopulatedValidationSupport(fhir);
		if (conformance.path() != null) {
			load(fhir, conformance.path(), own);
		}
		ValidationSupportChain chain = new ValidationSupportChain(
				own,
				new DefaultProfileValidationSupport(fhir),
				new CommonCodeSystemsTerminologyService(fhir),
				new InMemoryTerminologyServerValidationSupport(fhir),
				new SnapshotGeneratingValidationSupport(fhir),
				// Codes of systems that are not loaded here (SNOMED CT, the BSN's naming system) are warnings.
				new UnknownCodeSystemWarningValidationSupport(fhir));
		RequestValidatingInterceptor validating = new RequestValidatingInterceptor();
		validating.addValidatorModule(new FhirInstanceValidator(chain));
		validating.setFailOnSeverity(ResultSeverityEnum.ERROR);
		validating.setAddResponseOutcomeHeaderOnSeverity(ResultSeverityEnum.WARNING);
		validating.setResponseOutcomeHeaderName(OUTCOME_HEADER);
		validating.setMaximumHeaderLength(OUTCOME_HEADER_MAX);
		validating.setAddValidationResultsToResponseOperationOutcome(true);
		return new ValidationOnRequest(validating);
	}

	private static void load(FhirContext fhir, Path dir, PrePopulatedValidationSupport own) {
		try (Stream<Path> files = Files.list(dir)) {
			for (Path file : files.sorted().toList()) {
				String name = file.getFileName().toString();
				if (name.endsWith(".json") && TYPES.stream().anyMatch(t -> name.startsWith(t + "-"))) {
					String json = Files.readString(file, StandardCharsets.UTF_8);
					IBaseResource resource = fhir.newJsonParser().parseResource(json);
					own.addResource(resource);
				}
			}
		} catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}

	@Hook(Pointcut.SERVER_INCOMING_REQUEST_POST_PROCESSED)
	public boolean incomingRequestPostProcessed(
			RequestDetails request, HttpServletRequest servletRequest, HttpServletResponse servletResponse) {
		if (!"true".equals(servletRequest.getHeader(HEADER))) {
			return true;
		}
		return validating.incomingRequestPostProcessed(request, servletRequest, servletResponse);
	}
}
