package nl.kansrijkestart.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.ETagSupportEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import org.springframework.context.ApplicationContext;

/**
 * The FHIR REST endpoint over the JPA DAOs: every R4 resource type, transactions and batches on the system
 * provider, the JPA CapabilityStatement, database-backed paging, ETags (for If-Match) and JSON by default, as
 * the hapiproject/hapi image serves them. The on-write validation is registered too; it acts only on requests
 * that ask for it ({@link ValidationOnRequest}).
 */
public class FhirServlet extends RestfulServer {

	private static final long serialVersionUID = 1L;
	private final transient ApplicationContext spring;

	public FhirServlet(ApplicationContext spring) {
		super(spring.getBean(FhirContext.class));
		this.spring = spring;
	}

	@Override
	@SuppressWarnings({"rawtypes", "unchecked"})
	protected void initialize() {
		ResourceProviderFactory providers = spring.getBean("myResourceProvidersR4", ResourceProviderFactory.class);
		registerProviders(providers.createProviders());
		registerProvider(spring.getBean(JpaSystemProvider.class));
		IFhirSystemDao systemDao = spring.getBean("mySystemDaoR4", IFhirSystemDao.class);
		setServerConformanceProvider(new JpaCapabilityStatementProvider(
				this,
				systemDao,
				spring.getBean(JpaStorageSettings.class),
				spring.getBean(ISearchParamRegistry.class),
				spring.getBean(IValidationSupport.class)));
		setPagingProvider(spring.getBean(DatabaseBackedPagingProvider.class));
		setETagSupport(ETagSupportEnum.ENABLED);
		setDefaultResponseEncoding(EncodingEnum.JSON);
		registerInterceptor(ValidationOnRequest.create(getFhirContext(), spring.getBean(HapiTestServer.ConformanceDir.class)));
	}
}
