// Pre-fill a Questionnaire with CSIRO's @aehrc/sdc-populate (the $populate of Smart Forms), in-app: its
// x-fhir-queries are answered by the fetch callback from the record given, nothing leaves the process.
//
// stdin:  {"questionnaire": {...}, "today": "2026-11-23",
//          "cases": [{"id": "...", "patient": {...}, "user": {...}?, "encounter": {...}?, "resources": [...]}]}
// stdout: {"version": "<sdc-populate version>", "cases": {"<id>": {"ok": true, "response": {...}, "issues": {...}?,
//          "queries": ["Observation?patient=..."]}}, "errors": ["..."]}
//
// today() is the given day (the clock is fixed at noon, local time: run with TZ=Europe/Amsterdam); a search
// parameter the record cannot answer, a terminology call or any network use lands in "errors".

import { readFileSync } from 'node:fs';

const input = JSON.parse(readFileSync(0, 'utf8'));
const errors = [];

// A fixed clock: fhirpath.js reads today() from `new Date()`.
const RealDate = Date;
const fixed = new RealDate(`${input.today}T12:00:00`).getTime();
globalThis.Date = class extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(fixed);
    else super(...args);
  }
  static now() {
    return fixed;
  }
};
globalThis.fetch = async (url) => {
  errors.push(`network use: ${url}`);
  throw new Error('no network in this test');
};

const { populateQuestionnaire } = await import('@aehrc/sdc-populate');
const version = JSON.parse(readFileSync(new URL('./node_modules/@aehrc/sdc-populate/package.json', import.meta.url), 'utf8')).version;

function referenceMatches(ref, value, type) {
  if (typeof ref !== 'string') return false;
  const plain = ref.split('/_history')[0].replace(/\/+$/, '');
  const wanted = value.includes('/') || !type ? value : `${type}/${value}`;
  return plain === wanted || plain.endsWith(`/${wanted}`);
}

function tokenMatches(concept, value) {
  const codings = (concept && concept.coding) || [];
  return value.split(',').some((token) => {
    const bar = token.lastIndexOf('|');
    const system = bar < 0 ? null : token.slice(0, bar);
    const code = bar < 0 ? token : token.slice(bar + 1);
    return codings.some((c) => {
      if (system === null) return c.code === code;
      if (system === '') return c.system === undefined && c.code === code;
      return c.system === system && (code === '' || c.code === code);
    });
  });
}

// A FHIR search over the record: _id, patient, subject and code (token); anything else is an error.
function search(resources, query) {
  const [type, qs = ''] = query.replace(/^\/+/, '').split('?');
  const params = [...new URLSearchParams(qs)];
  const found = resources.filter((r) => r.resourceType === type && params.every(([name, value]) => {
    if (value === '') return true;
    if (name === '_id') return value.split(',').includes(r.id);
    if (name === 'patient' || name === 'subject') {
      return referenceMatches((r.subject || r.patient || {}).reference, value, name === 'patient' ? 'Patient' : null);
    }
    if (name === 'code') return tokenMatches(r.code, value);
    throw new Error(`search parameter ${name} is not supported: ${query}`);
  }));
  return {
    resourceType: 'Bundle', type: 'searchset', total: found.length,
    entry: found.map((r) => ({ fullUrl: `${r.resourceType}/${r.id}`, resource: r, search: { mode: 'match' } })),
  };
}

const out = {};
for (const c of input.cases) {
  const queries = [];
  const fetchResourceCallback = async (query) => {
    queries.push(query);
    try {
      return search(c.resources, query);
    } catch (e) {
      errors.push(`${c.id}: ${e.message}`);
      throw e;
    }
  };
  const fetchTerminologyCallback = async (query) => {
    errors.push(`${c.id}: terminology call ${query}`);
    throw new Error('no terminology server in this test');
  };
  const { populateSuccess, populateResult } = await populateQuestionnaire({
    questionnaire: input.questionnaire,
    patient: c.patient,
    ...(c.user ? { user: c.user } : {}),
    ...(c.encounter ? { encounter: c.encounter } : {}),
    fetchResourceCallback,
    fetchResourceRequestConfig: { sourceServerUrl: 'https://ehr.invalid/fhir/' },
    fetchTerminologyCallback,
    fetchTerminologyRequestConfig: { terminologyServerUrl: 'https://terminology.invalid/fhir/' },
    timeoutMs: 20000,
  });
  out[c.id] = populateSuccess
    ? { ok: true, response: populateResult.populatedResponse, issues: populateResult.issues ?? null, queries }
    : { ok: false, queries };
}
// sdc-populate leaves its timeout timers running: exit once the answer is written.
process.stdout.write(JSON.stringify({ version, cases: out, errors }), () => process.exit(0));
