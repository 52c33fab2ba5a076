"""Durable outbox of referral Bundles waiting to be pushed to the FHIR server."""
