package nl.kansrijkestart.hapi;

import java.nio.file.Path;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;

/**
 * HAPI FHIR JPA server (R4, in-memory H2) on loopback for the contract tests.
 *
 * <p>Usage: {@code HapiTestServer PORT [CONFORMANCE_DIR]}. The FHIR base is {@code http://127.0.0.1:PORT/fhir}.
 * CONFORMANCE_DIR holds the project's own StructureDefinitions, CodeSystems and ValueSets (JSON), loaded into the
 * validation support of the on-write validation (see {@link ValidationOnRequest}). When ready it prints
 * {@code hapi-fhir ready <base>} on stdout; it stops on SIGTERM.
 */
public final class HapiTestServer {

	private HapiTestServer() {}

	public static void main(String[] args) throws Exception {
		if (args.length < 1) {
			System.err.println("usage: HapiTestServer PORT [CONFORMANCE_DIR]");
			System.exit(2);
		}
		int port = Integer.parseInt(args[0]);
		long started = System.nanoTime();
		AnnotationConfigApplicationContext spring = new AnnotationConfigApplicationContext();
		if (args.length > 1) {
			spring.getBeanFactory().registerSingleton("conformanceDir", new ConformanceDir(Path.of(args[1])));
		} else {
			spring.getBeanFactory().registerSingleton("conformanceDir", new ConformanceDir(null));
		}
		spring.register(JpaServerConfig.class);
		spring.refresh();

		Server jetty = new Server();
		HttpConfiguration http = new HttpConfiguration();
		http.setResponseHeaderSize(2 * ValidationOnRequest.OUTCOME_HEADER_MAX); // room for the validation outcome
		ServerConnector connector = new ServerConnector(jetty, new HttpConnectionFactory(http));
		connector.setHost("127.0.0.1");
		connector.setPort(port);
		jetty.addConnector(connector);
		ServletContextHandler context = new ServletContextHandler();
		context.setContextPath("/");
		ServletHolder fhir = new ServletHolder("fhir", new FhirServlet(spring));
		fhir.setInitOrder(1); // initialise at start-up, not on the first request
		context.addServlet(fhir, "/fhir/*");
		jetty.setHandler(context);
		jetty.setStopAtShutdown(true);
		Runtime.getRuntime().addShutdownHook(new Thread(spring::close));
		jetty.start();

		long millis = (System.nanoTime() - started) / 1_000_000;
		System.out.println("hapi-fhir ready http://127.0.0.1:" + connector.getLocalPort() + "/fhir (" + millis + " ms)");
		System.out.flush();
		jetty.join();
	}

	/** Where the project's own conformance resources are, or null for none. */
	public record ConformanceDir(Path path) {}
}
