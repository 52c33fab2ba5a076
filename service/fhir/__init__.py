"""FHIR models, URLs and (later) the HTTP client; importing this package pulls in nothing heavy."""
