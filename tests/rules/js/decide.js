// Evaluates rule sets over QuestionnaireResponses with fhirpath.js, the reference FHIRPath engine, and the
// R4 model: the same steps as service/rules/evaluate.py (variables in order, the first level that holds,
// the clinician's override, safety, every rule that holds and its first priority that holds).
// Input on stdin, output on stdout, both JSON; tests/rules/test_reference_engine.py compares the decisions.
//
//   node tests/rules/js/decide.js < input.json
//
// input:  {levelOverride, levelOrder, rulesets: [{id, parameters, variables: [[name, expr]], levels: [{level, when}],
//          safety: [{id, when}], rules: [{id, when, recipient, priority: [[when, value]]}], expressions: [[pointer, expr]]}],
//          responses: [{name, today, resource}]}
// output: {fhirpath: version, results: [{ruleset, response, computedLevel, level, safety, rules: [{id, priority}],
//          values: {pointer: result}}]}
'use strict';

let fhirpath, r4;
try {
  fhirpath = require('fhirpath');
  r4 = require('fhirpath/fhir-context/r4');
} catch (err) {
  process.stderr.write(`fhirpath is not installed (${err.message}): run npm ci --prefix tests/rules/js\n`);
  process.exit(3);
}
const { version } = require('fhirpath/package.json');

const compiled = new Map();
function run(expression, resource, env, resolve = true) {
  let fn = compiled.get(expression);
  if (!fn) {
    fn = fhirpath.compile(expression, r4, { resolveInternalTypes: false });
    compiled.set(expression, fn);
  }
  const result = fn(resource, env);
  return resolve ? fhirpath.resolveInternalTypes(result) : result;
}

function holds(expression, resource, env) {
  if (expression === null || expression === undefined) return true;
  const result = run(expression, resource, env);
  return result.length === 1 && result[0] === true;
}

function decide(ruleset, response, input) {
  const resource = response.resource;
  const [today] = fhirpath.evaluate({}, `@${response.today}`, null, r4, { resolveInternalTypes: false });
  const env = { ...ruleset.parameters, today, resource };
  for (const [name, expression] of ruleset.variables) {
    const result = run(expression, resource, env, false);
    env[name] = result.length === 1 ? result[0] : result;
  }
  const first = ruleset.levels.find((lv) => holds(lv.when, resource, env));
  const computedLevel = first ? first.level : 'none';
  const override = run(`%resource.repeat(item).where(linkId = '${input.levelOverride}').answer.value.code`, resource, env)[0];
  const level = input.levelOrder.includes(override) ? override : computedLevel;
  env.computedLevel = computedLevel;
  env.level = level;
  const safety = ruleset.safety.filter((s) => holds(s.when, resource, env)).map((s) => s.id);
  const rules = ruleset.rules.filter((r) => holds(r.when, resource, env)).map((r) => {
    const prio = r.recipient ? r.priority.find(([when]) => holds(when, resource, env)) : undefined;
    return { id: r.id, priority: prio ? prio[1] : null };
  });
  const values = {};
  for (const [pointer, expression] of ruleset.expressions) values[pointer] = run(expression, resource, env);
  return { ruleset: ruleset.id, response: response.name, computedLevel, level, safety, rules, values };
}

function main(text) {
  const input = JSON.parse(text);
  const results = [];
  for (const ruleset of input.rulesets) {
    for (const response of input.responses) {
      try {
        results.push(decide(ruleset, response, input));
      } catch (err) {
        results.push({ ruleset: ruleset.id, response: response.name, error: String(err && err.message || err) });
      }
    }
  }
  process.stdout.write(JSON.stringify({ fhirpath: version, results }));
}

let data = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { data += chunk; });
process.stdin.on('end', () => main(data));
