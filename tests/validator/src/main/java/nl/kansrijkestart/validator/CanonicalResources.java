package nl.kansrijkestart.validator;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.MetadataResource;

/**
 * Our conformance resources of any type by canonical url, plain and as {@code url|version} (R4 "References
 * between Canonical Resources", references.html#canonical). PrePopulatedValidationSupport answers for
 * StructureDefinitions, CodeSystems and ValueSets only; the validator also fetches the Questionnaire a
 * QuestionnaireResponse names, and that is what this adds.
 */
final class CanonicalResources implements IValidationSupport {

  private final FhirContext ctx;
  private final Map<String, IBaseResource> byUrl = new HashMap<>();
  private final List<IBaseResource> all = new ArrayList<>();

  CanonicalResources(FhirContext ctx) {
    this.ctx = ctx;
  }

  void add(IBaseResource resource) {
    if (resource instanceof MetadataResource c && c.hasUrl()) {
      byUrl.put(c.getUrl(), resource);
      if (c.hasVersion()) {
        byUrl.put(c.getUrl() + "|" + c.getVersion(), resource);
      }
      all.add(resource);
    }
  }

  @Override
  public FhirContext getFhirContext() {
    return ctx;
  }

  @Override
  public String getName() {
    return "Kansrijke Start conformance resources";
  }

  @Override
  public List<IBaseResource> fetchAllConformanceResources() {
    return List.copyOf(all);
  }

  @Override
  @SuppressWarnings("unchecked")
  public <T extends IBaseResource> T fetchResource(Class<T> type, String uri) {
    IBaseResource found = uri == null ? null : byUrl.get(uri);
    if (found == null || (type != null && !type.isInstance(found))) {
      return null;
    }
    return (T) found;
  }
}
