"""FHIR servers this service can start by itself on loopback when no real one is configured."""

from service.embedded.sekmet import EmbeddedServer, EmbeddedServerFailed, start_sekmet

__all__ = ["EmbeddedServer", "EmbeddedServerFailed", "start_sekmet"]
