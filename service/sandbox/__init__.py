"""The demo EHR (KS_SANDBOX=1): a SMART authorization server, a FHIR base for the app, a launch picker."""
