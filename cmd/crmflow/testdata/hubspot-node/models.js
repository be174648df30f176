'use strict';

// Checks a JSON answer against a model of @hubspot/api-client's generated code, the way the client
// reads it: every field its declaration requires is present, and every field has the model's type
// (a string, a number, a boolean, a date-time string, an enum's value, an array, a map or another
// model). Fields the model does not declare are not checked: the client drops them.
//
//   problems('crm/lists', 'ListCreateResponse', json) // => ['$.list.listVersion: missing (ListCreateResponse ...)']

const fs = require('fs');
const path = require('path');

const codegen = path.join(path.dirname(require.resolve('@hubspot/api-client/package.json')), 'lib', 'codegen');

// model returns the attributes and required fields of model name of module mod, or null when mod
// has no such model (the name is an enum's or a primitive's).
function model(mod, name) {
  const file = path.join(codegen, mod, 'models', `${name}.js`);
  if (!fs.existsSync(file)) return null;
  const cls = require(file)[name];
  const dts = fs.readFileSync(path.join(codegen, mod, 'models', `${name}.d.ts`), 'utf8');
  return { attrs: cls.getAttributeTypeMap(), required: new Set([...dts.matchAll(/^ {4}'(\w+)': /gm)].map((m) => m[1])) };
}

// enumValues returns the values of enum name of module mod, or null.
function enumValues(mod, name) {
  const dir = path.join(codegen, mod, 'models');
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.d.ts'))) {
    const m = fs.readFileSync(path.join(dir, f), 'utf8').match(new RegExp(`enum ${name} \\{([^}]+)\\}`));
    if (m) return [...m[1].matchAll(/"([^"]*)"/g)].map((x) => x[1]);
  }
  return null;
}

function walk(mod, type, v, at, out) {
  if (v === null || v === undefined) return;
  const primitive = { string: 'string', number: 'number', boolean: 'boolean' }[type];
  if (primitive) {
    if (typeof v !== primitive) out.push(`${at}: ${JSON.stringify(v)} is not a ${primitive}`);
    return;
  }
  if (type === 'Date') {
    if (typeof v !== 'string' || isNaN(Date.parse(v))) out.push(`${at}: ${JSON.stringify(v)} is not a date-time`);
    return;
  }
  if (type === 'any') return;
  let m = type.match(/^Array<(.+)>$/);
  if (m) {
    if (!Array.isArray(v)) out.push(`${at}: ${JSON.stringify(v)} is not an array`);
    else v.forEach((x, i) => walk(mod, m[1], x, `${at}[${i}]`, out));
    return;
  }
  m = type.match(/^\{ \[key: string\]: (.+?)(?: \| null)?; \}$/);
  if (m) {
    if (typeof v !== 'object' || Array.isArray(v)) out.push(`${at}: ${JSON.stringify(v)} is not an object`);
    else for (const [k, x] of Object.entries(v)) walk(mod, m[1], x, `${at}.${k}`, out);
    return;
  }
  const info = model(mod, type);
  if (info) {
    if (typeof v !== 'object' || Array.isArray(v)) {
      out.push(`${at}: ${JSON.stringify(v)} is not an object (${type})`);
      return;
    }
    for (const a of info.attrs) {
      if (v[a.baseName] === undefined && info.required.has(a.name)) out.push(`${at}.${a.baseName}: missing (${type} requires it)`);
      walk(mod, a.type, v[a.baseName], `${at}.${a.baseName}`, out);
    }
    return;
  }
  const values = enumValues(mod, type);
  if (values === null) out.push(`${at}: the client has no type ${type} in ${mod}`);
  else if (!values.includes(v)) out.push(`${at}: ${JSON.stringify(v)} is not one of ${type}: ${values.join(', ')}`);
}

// problems returns what in json does not fit model type of module mod (as 'crm/contacts'), one
// line each with its JSON path; none when it fits.
function problems(mod, type, json) {
  const out = [];
  walk(mod, type, json, '$', out);
  return out;
}

module.exports = { problems };
