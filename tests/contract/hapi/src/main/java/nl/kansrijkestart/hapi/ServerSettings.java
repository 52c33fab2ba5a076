package nl.kansrijkestart.hapi;

import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;
import java.util.Set;

/**
 * The server settings that docker-compose.yml must repeat (tests/test_compose.py compares them), read from
 * {@code hapi-settings.properties} under the names the hapiproject/hapi image takes ({@code hapi.fhir.*}). Each
 * value there is HAPI's default, written out so the comparison is explicit; every other setting stays at
 * HAPI's default.
 */
final class ServerSettings {

	static final String RESOURCE = "/hapi-settings.properties";
	private static final Set<String> KNOWN = Set.of(
			"hapi.fhir.fhir_version",
			"hapi.fhir.enforce_referential_integrity_on_write",
			"hapi.fhir.enforce_referential_integrity_on_delete",
			"hapi.fhir.client_id_strategy",
			"hapi.fhir.allow_external_references",
			"hapi.fhir.auto_create_placeholder_reference_targets",
			"hapi.fhir.allow_multiple_delete",
			"hapi.fhir.reuse_cached_search_results_millis");

	private ServerSettings() {}

	static Properties load() {
		Properties props = new Properties();
		try (InputStream in = ServerSettings.class.getResourceAsStream(RESOURCE)) {
			if (in == null) {
				throw new IllegalStateException(RESOURCE + " is missing from the classpath");
			}
			props.load(in);
		} catch (IOException e) {
			throw new UncheckedIOException(e);
		}
		for (String key : props.stringPropertyNames()) {
			if (!KNOWN.contains(key)) {
				throw new IllegalStateException("unknown setting in " + RESOURCE + ": " + key);
			}
		}
		if (!"R4".equals(props.getProperty("hapi.fhir.fhir_version"))) {
			throw new IllegalStateException("this server serves R4 only");
		}
		return props;
	}

	static JpaStorageSettings storageSettings(Properties props) {
		JpaStorageSettings settings = new JpaStorageSettings();
		settings.setEnforceReferentialIntegrityOnWrite(bool(props, "hapi.fhir.enforce_referential_integrity_on_write"));
		settings.setEnforceReferentialIntegrityOnDelete(bool(props, "hapi.fhir.enforce_referential_integrity_on_delete"));
		settings.setResourceClientIdStrategy(
				JpaStorageSettings.ClientIdStrategyEnum.valueOf(props.getProperty("hapi.fhir.client_id_strategy")));
		settings.setAllowExternalReferences(bool(props, "hapi.fhir.allow_external_references"));
		settings.setAutoCreatePlaceholderReferenceTargets(
				bool(props, "hapi.fhir.auto_create_placeholder_reference_targets"));
		settings.setAllowMultipleDelete(bool(props, "hapi.fhir.allow_multiple_delete"));
		settings.setReuseCachedSearchResultsForMillis(
				Long.valueOf(props.getProperty("hapi.fhir.reuse_cached_search_results_millis")));
		return settings;
	}

	private static boolean bool(Properties props, String key) {
		String value = props.getProperty(key);
		if (!"true".equals(value) && !"false".equals(value)) {
			throw new IllegalStateException(key + " must be true or false, not " + value);
		}
		return Boolean.parseBoolean(value);
	}
}
