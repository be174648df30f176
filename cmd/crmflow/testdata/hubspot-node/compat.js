'use strict';

// Drives a crmflow server with HubSpot's official Node client (@hubspot/api-client, pinned in
// package.json), used as an integration uses it: only basePath points elsewhere. Every check is
// printed; the first failure prints what was expected and what came back, and exits 1.
//
//   CRMFLOW_URL=http://127.0.0.1:8080 CRMFLOW_TOKEN=cft_... CRMFLOW_READ_TOKEN=cft_... node compat.js
//
// CRMFLOW_TOKEN's user needs every permission (the script creates, deletes, restores and erases);
// CRMFLOW_READ_TOKEN's user of the same tenant has read alone (the script checks the 403s).

const { Client, AssociationTypes } = require('@hubspot/api-client');
const { ApiException: ContactsApiException } = require('@hubspot/api-client/lib/codegen/crm/contacts');
const models = require('./models');

const base = process.env.CRMFLOW_URL;
const token = process.env.CRMFLOW_TOKEN;
const readToken = process.env.CRMFLOW_READ_TOKEN;
if (!base || !token || !readToken) {
  console.error('set CRMFLOW_URL (the server, as http://host:port), CRMFLOW_TOKEN (a token of a user with every permission) '
    + 'and CRMFLOW_READ_TOKEN (a token of a user of the same tenant with the read permission alone)');
  process.exit(2);
}

const client = new Client({ accessToken: token, basePath: base });
// A suffix that keeps the emails of one run apart from those of another on the same tenant.
const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const email = (name) => `${name}.${run}@example.com`;

let passed = 0;

function describe(err) {
  if (err && err.constructor && err.constructor.name === 'ApiException') {
    return `ApiException ${err.code}: ${JSON.stringify(err.body)}`;
  }
  return err && err.stack ? err.stack : String(err);
}

async function check(name, fn) {
  try {
    await fn();
  } catch (err) {
    console.error(`FAIL ${name}: ${describe(err)}`);
    console.error(`${passed} passed, 1 failed`);
    process.exit(1);
  }
  passed++;
  console.log(`ok   ${name}`);
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function eq(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

// expectApiError awaits a call that must fail with the client's ApiException of status code, and
// returns the exception. cls is the ApiException class of the API's module, when the caller has it.
async function expectApiError(promise, code, what, cls) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error(`${what}: succeeded, want ApiException ${code}`);
  const isApi = cls ? err instanceof cls : err.constructor && err.constructor.name === 'ApiException';
  if (!isApi || err.code !== code) throw new Error(`${what}: want ApiException ${code}, got ${describe(err)}`);
  assert(err.body && typeof err.body.message === 'string' && err.body.message.length > 0,
    `${what}: the error body has no message: ${JSON.stringify(err.body)}`);
  return err;
}

const unlabeled = (typeId) => [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: typeId }];

// apisOf gives one interface over the client's record APIs of a type, so that the same checks run
// on each: crm.companies, crm.deals and crm.tickets take no object type, crm.objects (a custom
// object) takes it first. Arguments are in the client's own order after that.
function apisOf(type) {
  const own = { companies: client.crm.companies, deals: client.crm.deals, tickets: client.crm.tickets }[type];
  if (own) {
    return {
      create: (input) => own.basicApi.create(input),
      getById: (...args) => own.basicApi.getById(...args),
      getPage: (...args) => own.basicApi.getPage(...args),
      update: (...args) => own.basicApi.update(...args),
      archive: (id) => own.basicApi.archive(id),
      batchRead: (...args) => own.batchApi.read(...args),
      batchUpdate: (input) => own.batchApi.update(input),
      batchArchive: (input) => own.batchApi.archive(input),
      batchUpsert: (input) => own.batchApi.upsert(input),
      search: (request) => own.searchApi.doSearch(request),
    };
  }
  const o = client.crm.objects;
  return {
    create: (input) => o.basicApi.create(type, input),
    getById: (...args) => o.basicApi.getById(type, ...args),
    getPage: (...args) => o.basicApi.getPage(type, ...args),
    update: (...args) => o.basicApi.update(type, ...args),
    archive: (id) => o.basicApi.archive(type, id),
    batchRead: (...args) => o.batchApi.read(type, ...args),
    batchUpdate: (input) => o.batchApi.update(type, input),
    batchArchive: (input) => o.batchApi.archive(type, input),
    batchUpsert: (input) => o.batchApi.upsert(type, input),
    search: (request) => o.searchApi.doSearch(type, request),
  };
}

// pageAll reads every page of getPage(limit, after) and returns the results in order.
async function pageAll(getPage, limit) {
  const out = [];
  let after;
  for (let pages = 0; ; pages++) {
    assert(pages < 1000, 'paging does not end');
    const page = await getPage(limit, after);
    assert(page.results.length <= limit, `page of ${page.results.length}, limit ${limit}`);
    out.push(...page.results);
    if (!page.paging || !page.paging.next) return out;
    after = page.paging.next.after;
  }
}

const sorted = (ids) => [...ids].sort((a, b) => Number(a) - Number(b));
const propName = (prefix) => `${prefix}_${run}`.replace(/[^a-z0-9_]/g, '_');

// recordsOf checks the record endpoints of type as a user of the client would use them: basicApi
// getPage, getById, update and archive, and batchApi read, update, upsert and archive. nameProp is
// a string property of the type; key is a unique string property of the type (idProperty).
async function recordsOf(type, nameProp, key) {
  const api = apisOf(type);
  const value = (n) => `${type}-${n}-${run}`;
  let ids;
  await check(`${type}: create, then page through them with getPage and properties`, async () => {
    ids = [];
    for (let i = 0; i < 3; i++) {
      const made = await api.create({ properties: { [nameProp]: `Rec ${i}`, [key]: value(i) }, associations: [] });
      eq([made.properties[nameProp], made.properties[key]], [`Rec ${i}`, value(i)], 'created');
      ids.push(made.id);
    }
    const all = await pageAll((limit, after) => api.getPage(limit, after, [nameProp, key]), 2);
    const mine = all.filter((r) => ids.includes(r.id));
    eq(mine.map((r) => [r.id, r.properties[nameProp], r.properties[key]]),
      ids.map((id, i) => [id, `Rec ${i}`, value(i)]), 'paged records');
    assert(mine.every((r) => r.createdAt instanceof Date && r.updatedAt instanceof Date && r.archived === false),
      `dates or archived of ${JSON.stringify(mine)}`);
  });
  await check(`${type}: getById by id and by idProperty, with propertiesWithHistory`, async () => {
    const got = await api.getById(ids[0], [nameProp], [nameProp]);
    eq([got.id, got.properties[nameProp], got.propertiesWithHistory[nameProp].map((v) => v.value)],
      [ids[0], 'Rec 0', ['Rec 0']], 'by id');
    const byKey = await api.getById(value(1), [nameProp], undefined, undefined, false, key);
    eq([byKey.id, byKey.properties[nameProp]], [ids[1], 'Rec 1'], 'by idProperty');
    const err = await expectApiError(api.getById('999999999'), 404, 'a missing record');
    eq(err.body.category, 'OBJECT_NOT_FOUND', 'category');
  });
  await check(`${type}: update by id and by idProperty`, async () => {
    const byID = await api.update(ids[0], { properties: { [nameProp]: 'Renamed 0' } });
    eq([byID.id, byID.properties[nameProp]], [ids[0], 'Renamed 0'], 'by id');
    const byKey = await api.update(value(1), { properties: { [nameProp]: 'Renamed 1' } }, key);
    eq([byKey.id, byKey.properties[nameProp]], [ids[1], 'Renamed 1'], 'by idProperty');
    const err = await expectApiError(api.update('999999999', { properties: { [nameProp]: 'x' } }), 404, 'update a missing record');
    eq(err.body.category, 'OBJECT_NOT_FOUND', 'category');
  });
  await check(`${type}: batch read by id (a missing one: 207) and by idProperty`, async () => {
    const got = await api.batchRead({ inputs: [{ id: ids[0] }, { id: ids[2] }, { id: '999999999' }], properties: [nameProp], propertiesWithHistory: [] });
    eq(sorted(got.results.map((r) => r.id)), sorted([ids[0], ids[2]]), 'ids');
    eq([got.status, got.numErrors, got.errors[0].context.ids], ['COMPLETE', 1, ['999999999']], 'the missing one');
    const byKey = await api.batchRead({ inputs: [{ id: value(2) }], properties: [nameProp], propertiesWithHistory: [], idProperty: key });
    eq(byKey.results.map((r) => [r.id, r.properties[nameProp]]), [[ids[2], 'Rec 2']], 'by idProperty');
  });
  await check(`${type}: batch update by id and by idProperty`, async () => {
    const got = await api.batchUpdate({ inputs: [
      { id: ids[0], properties: { [nameProp]: 'Batch 0' }, objectWriteTraceId: 't0' },
      { id: value(2), idProperty: key, properties: { [nameProp]: 'Batch 2' }, objectWriteTraceId: 't2' }] });
    eq(got.status, 'COMPLETE', 'status');
    eq(got.results.map((r) => [r.id, r.properties[nameProp], r.objectWriteTraceId]).sort(),
      [[ids[0], 'Batch 0', 't0'], [ids[2], 'Batch 2', 't2']].sort(), 'updated');
  });
  await check(`${type}: batch upsert by a unique property: one update, one create`, async () => {
    const got = await api.batchUpsert({ inputs: [
      { idProperty: key, id: value(1), properties: { [nameProp]: 'Upserted 1' } },
      { idProperty: key, id: value(3), properties: { [nameProp]: 'Upserted 3' } }] });
    const one = got.results.find((r) => r.id === ids[1]);
    assert(one, `${ids[1]} not among ${JSON.stringify(got.results.map((r) => r.id))}`);
    eq([one._new, one.properties[nameProp]], [false, 'Upserted 1'], 'updated');
    const made = got.results.find((r) => r.id !== ids[1]);
    eq([made._new, made.properties[nameProp], made.properties[key]], [true, 'Upserted 3', value(3)], 'created');
    ids.push(made.id);
  });
  await check(`${type}: search by the unique property, with sorts and properties`, async () => {
    const got = await api.search({ filterGroups: [{ filters: [{ propertyName: key, operator: 'IN', values: [value(3), value(1), value(0)] }] }],
      sorts: [{ propertyName: key, direction: 'DESCENDING' }], properties: [nameProp], limit: 10 });
    eq([got.total, got.results.map((r) => [r.id, r.properties[nameProp]])],
      [3, [[ids[3], 'Upserted 3'], [ids[1], 'Upserted 1'], [ids[0], 'Batch 0']]], 'found, sorted descending');
  });
  await check(`${type}: archive one and batch archive two, then they are read with archived=true`, async () => {
    await api.archive(ids[0]);
    await expectApiError(api.getById(ids[0]), 404, 'read the archived record');
    const one = await api.getById(ids[0], [nameProp], undefined, undefined, true);
    eq([one.id, one.archived, one.properties[nameProp]], [ids[0], true, 'Batch 0'], 'archived read');
    assert(one.archivedAt instanceof Date && !isNaN(one.archivedAt), `archivedAt ${one.archivedAt} is not a date`);
    await api.batchArchive({ inputs: [{ id: ids[1] }, { id: ids[2] }] });
    const got = await api.batchRead({ inputs: ids.slice(0, 3).map((id) => ({ id })), properties: [], propertiesWithHistory: [] }, true);
    eq(sorted(got.results.map((r) => r.id)), sorted(ids.slice(0, 3)), 'batch read of the archived');
    assert(got.results.every((r) => r.archived === true), 'archived flags');
    const live = await api.batchRead({ inputs: ids.map((id) => ({ id })), properties: [], propertiesWithHistory: [] });
    eq(live.results.map((r) => r.id), [ids[3]], 'the live one');
    const binned = await pageAll((limit, after) => api.getPage(limit, after, undefined, undefined, undefined, true), 100);
    for (const id of ids.slice(0, 3)) assert(binned.some((r) => r.id === id), `archived ${id} not paged`);
  });
}

async function main() {
  const contacts = client.crm.contacts;
  let company;
  let ada;
  let batch;

  // Records.
  await check('create a company with associations: []', async () => {
    company = await client.crm.companies.basicApi.create({ properties: { name: `Acme ${run}`, domain: 'acme.example' }, associations: [] });
    assert(/^[0-9]+$/.test(company.id), `company id ${company.id} is not decimal`);
    assert(company.createdAt instanceof Date && !isNaN(company.createdAt), `createdAt ${company.createdAt} is not a date`);
  });

  await check('create a contact with an inline association to the company', async () => {
    ada = await contacts.basicApi.create({
      properties: { email: email('ada'), firstname: 'Ada', lastname: 'Lovelace' },
      associations: [{ to: { id: company.id }, types: unlabeled(AssociationTypes.contactToCompany) }],
    });
    eq(ada.properties.email, email('ada'), 'email');
    const got = await contacts.basicApi.getById(ada.id, undefined, undefined, ['companies']);
    eq(got.associations.companies.results.map((r) => r.id), [company.id], 'associated companies');
  });

  await check('batch create contacts, one with an association', async () => {
    batch = await contacts.batchApi.create({
      inputs: [
        { properties: { email: email('bob'), firstname: 'Bob' }, associations: [] },
        { properties: { email: email('cy'), firstname: 'Cy' }, associations: [{ to: { id: company.id }, types: unlabeled(AssociationTypes.primaryContactToCompany) }] },
        { properties: { email: email('di'), firstname: 'Di' }, associations: [] },
      ],
    });
    eq(batch.status, 'COMPLETE', 'status');
    eq(batch.results.length, 3, 'results');
    const cy = batch.results.find((r) => r.properties.email === email('cy'));
    const got = await contacts.basicApi.getById(cy.id, undefined, undefined, ['companies']);
    eq(got.associations.companies.results.map((r) => r.id), [company.id], 'associated companies');
  });

  await check('create with an association to a missing record is a 400 and creates nothing', async () => {
    const err = await expectApiError(contacts.basicApi.create({
      properties: { email: email('ghost') },
      associations: [{ to: { id: '999999999' }, types: unlabeled(AssociationTypes.contactToCompany) }],
    }), 400, 'create', ContactsApiException);
    eq(err.body.category, 'VALIDATION_ERROR', 'category');
    await expectApiError(contacts.basicApi.getById(email('ghost'), undefined, undefined, undefined, false, 'email'), 404, 'read the refused contact', ContactsApiException);
  });

  await check('read with properties and propertiesWithHistory', async () => {
    const got = await contacts.basicApi.getById(ada.id, ['email'], ['firstname']);
    eq(got.properties.email, email('ada'), 'email');
    eq(got.propertiesWithHistory.firstname.map((v) => v.value), ['Ada'], 'history of firstname');
  });

  await check('read by email (idProperty)', async () => {
    const got = await contacts.basicApi.getById(email('ada').toUpperCase(), undefined, undefined, undefined, false, 'email');
    eq(got.id, ada.id, 'id');
  });

  await check('batch read by email with propertiesWithHistory, one missing (207)', async () => {
    const got = await contacts.batchApi.read({
      idProperty: 'email', properties: ['firstname'], propertiesWithHistory: ['lastname'],
      inputs: [{ id: email('ada') }, { id: email('bob') }, { id: email('nobody') }],
    });
    eq(got.results.map((r) => r.id).sort(), [ada.id, batch.results[0].id].sort(), 'ids');
    eq(got.numErrors, 1, 'numErrors');
    eq(got.errors[0].context.ids, [email('nobody')], 'missing');
    const a = got.results.find((r) => r.id === ada.id);
    eq(a.propertiesWithHistory.lastname.map((v) => v.value), ['Lovelace'], 'history of lastname');
  });

  await check('page through the contacts, with their associations', async () => {
    const seen = [];
    let after;
    let adaCompanies;
    for (let pages = 0; ; pages++) {
      assert(pages < 1000, 'paging does not end');
      const page = await contacts.basicApi.getPage(2, after, ['email'], undefined, ['companies']);
      assert(page.results.length <= 2, `page of ${page.results.length}`);
      seen.push(...page.results.map((r) => r.id));
      const a = page.results.find((r) => r.id === ada.id);
      if (a) adaCompanies = a.associations && a.associations.companies && a.associations.companies.results.map((r) => r.id);
      if (!page.paging || !page.paging.next) break;
      after = page.paging.next.after;
    }
    for (const id of [ada.id, ...batch.results.map((r) => r.id)]) assert(seen.includes(id), `contact ${id} not paged`);
    eq(adaCompanies, [company.id], 'companies of the paged contact');
  });

  await check('update by id and by email (idProperty)', async () => {
    const byID = await contacts.basicApi.update(ada.id, { properties: { jobtitle: 'Engineer' } });
    eq(byID.properties.jobtitle, 'Engineer', 'jobtitle');
    const byEmail = await contacts.basicApi.update(email('ada'), { properties: { phone: '+1 555 0100' } }, 'email');
    eq(byEmail.id, ada.id, 'id');
    eq(byEmail.properties.phone, '+1 555 0100', 'phone');
  });

  await check('batch update by id and by email (idProperty)', async () => {
    const got = await contacts.batchApi.update({ inputs: batch.results.map((r) => ({ id: r.id, properties: { lastname: 'Batch' } })) });
    eq(got.results.map((r) => r.properties.lastname), ['Batch', 'Batch', 'Batch'], 'lastnames');
    const byEmail = await contacts.batchApi.update({ inputs: [{ idProperty: 'email', id: email('bob'), properties: { jobtitle: 'Pilot' }, objectWriteTraceId: 'bob' }] });
    eq([byEmail.results[0].id, byEmail.results[0].properties.jobtitle, byEmail.results[0].objectWriteTraceId], [batch.results[0].id, 'Pilot', 'bob'], 'by email');
  });

  await check('batch update swaps two contacts\' emails in one step', async () => {
    const made = await contacts.batchApi.create({ inputs: [
      { properties: { email: email('swap1'), firstname: 'One' }, associations: [] },
      { properties: { email: email('swap2'), firstname: 'Two' }, associations: [] }] });
    const [one, two] = ['One', 'Two'].map((n) => made.results.find((r) => r.properties.firstname === n).id);
    await contacts.batchApi.update({ inputs: [
      { id: one, properties: { email: email('swap2') } },
      { id: two, properties: { email: email('swap1') } }] });
    eq((await contacts.basicApi.getById(email('swap1'), undefined, undefined, undefined, false, 'email')).id, two, 'swap1 now names');
    eq((await contacts.basicApi.getById(email('swap2'), undefined, undefined, undefined, false, 'email')).id, one, 'swap2 now names');
  });

  await check('an update that changes nothing leaves updatedAt', async () => {
    const before = await contacts.basicApi.getById(ada.id, ['jobtitle']);
    const after = await contacts.basicApi.update(ada.id, { properties: { jobtitle: before.properties.jobtitle } });
    eq(after.updatedAt.getTime(), before.updatedAt.getTime(), 'updatedAt');
  });

  await check('batch upsert by email: one update, one create', async () => {
    const got = await contacts.batchApi.upsert({
      inputs: [
        { idProperty: 'email', id: email('ada'), properties: { city: 'London' } },
        { idProperty: 'email', id: email('eve'), properties: { firstname: 'Eve' } },
      ],
    });
    eq(got.results.length, 2, 'results');
    const a = got.results.find((r) => r.id === ada.id);
    assert(a, `ada ${ada.id} not among ${JSON.stringify(got.results.map((r) => r.id))}`);
    eq([a._new, a.properties.city], [false, 'London'], 'ada updated');
    const e = got.results.find((r) => r.id !== ada.id);
    eq([e._new, e.properties.email], [true, email('eve')], 'eve created');
  });

  await check('a bad property value is a 400 VALIDATION_ERROR', async () => {
    const err = await expectApiError(contacts.basicApi.create({ properties: { email: email('bad'), lifecyclestage: 'king' }, associations: [] }), 400, 'create', ContactsApiException);
    eq(err.body.category, 'VALIDATION_ERROR', 'category');
  });

  await check('a missing record is a 404 OBJECT_NOT_FOUND', async () => {
    const err = await expectApiError(contacts.basicApi.getById('999999999'), 404, 'read', ContactsApiException);
    eq(err.body.category, 'OBJECT_NOT_FOUND', 'category');
  });

  // Deletes, the bin, restore, permanent delete.
  const [bob, cy, di] = batch.results.map((r) => r.id);
  await check('archive, then the record is a 404 and readable with archived=true', async () => {
    await contacts.basicApi.archive(bob);
    await expectApiError(contacts.basicApi.getById(bob), 404, 'read archived', ContactsApiException);
    const got = await contacts.basicApi.getById(bob, undefined, undefined, undefined, true);
    eq([got.id, got.archived], [bob, true], 'archived read');
    assert(got.archivedAt instanceof Date && !isNaN(got.archivedAt), `archivedAt ${got.archivedAt} is not a date`);
  });

  await check('batch archive with an input that is no record id is a 400 and deletes nothing', async () => {
    const err = await expectApiError(contacts.batchApi.archive({ inputs: [{ id: cy }, { id: email('di') }] }), 400, 'archive', ContactsApiException);
    eq([err.body.category, err.body.errors.map((e) => e.in)], ['VALIDATION_ERROR', ['inputs[1].id']], 'error');
    eq((await contacts.basicApi.getById(cy)).id, cy, 'still live');
  });

  await check('batch archive', async () => {
    await contacts.batchApi.archive({ inputs: [{ id: cy }, { id: di }] });
    const got = await contacts.batchApi.read({ inputs: [{ id: cy }, { id: di }], properties: [] }, true);
    eq(got.results.map((r) => r.id).sort(), [cy, di].sort(), 'archived');
  });

  await check('page through the archived contacts', async () => {
    const seen = [];
    let after;
    for (let pages = 0; ; pages++) {
      assert(pages < 1000, 'paging does not end');
      const page = await contacts.basicApi.getPage(100, after, undefined, undefined, undefined, true);
      seen.push(...page.results.map((r) => r.id));
      if (!page.paging || !page.paging.next) break;
      after = page.paging.next.after;
    }
    for (const id of [bob, cy, di]) assert(seen.includes(id), `archived contact ${id} not paged`);
  });

  await check('restore (crmflow\'s POST batch/restore, through the client\'s apiRequest)', async () => {
    const res = await client.apiRequest({ method: 'POST', path: '/crm/v3/objects/contacts/batch/restore', body: { inputs: [{ id: bob }] } });
    eq(res.status, 200, 'status');
    const got = await contacts.basicApi.getById(bob);
    eq(got.archived, false, 'archived');
  });

  await check('gdpr-delete by email, then the contact is gone', async () => {
    await contacts.basicApi.purge({ objectId: email('ada'), idProperty: 'email' });
    await expectApiError(contacts.basicApi.getById(ada.id), 404, 'read erased', ContactsApiException);
    await expectApiError(contacts.basicApi.getById(ada.id, undefined, undefined, undefined, true), 404, 'read erased from the bin', ContactsApiException);
  });

  // Properties, schemas, pipelines.
  await check('properties', async () => {
    const all = await client.crm.properties.coreApi.getAll('contacts');
    assert(all.results.some((p) => p.name === 'email'), 'no email property');
    const stage = await client.crm.properties.coreApi.getByName('contacts', 'lifecyclestage');
    eq([stage.type, stage.fieldType], ['enumeration', 'select'], 'lifecyclestage');
    assert(stage.options.some((o) => o.value === 'lead'), 'no lead option');
    await expectApiError(client.crm.properties.coreApi.getByName('contacts', 'no_such_property'), 404, 'missing property');
    const name = `size_${run}`.replace(/[^a-z0-9_]/g, '_');
    const made = await client.crm.properties.coreApi.create('contacts', {
      name, label: 'Size', type: 'enumeration', fieldType: 'select', groupName: 'contactinformation',
      description: 'Shirt size', displayOrder: 1, hidden: false, formField: true,
      options: [{ label: 'Small', value: 's', displayOrder: 0, hidden: false }, { label: 'Large', value: 'l', displayOrder: 1, hidden: false }],
    });
    eq([made.name, made.options.map((o) => [o.label, o.value])], [name, [['Small', 's'], ['Large', 'l']]], 'created enumeration');
  });

  await check('properties: batchApi create, read and archive; a bad input is a 400 that creates nothing', async () => {
    const batch = client.crm.properties.batchApi;
    const [a, b, c] = ['batch_a', 'batch_b', 'batch_c'].map(propName);
    const made = await batch.create('contacts', { inputs: [
      { name: a, label: 'Batch A', type: 'string', fieldType: 'text', groupName: 'contactinformation' },
      { name: b, label: 'Batch B', type: 'enumeration', fieldType: 'select', groupName: 'contactinformation', options: [{ label: 'One', value: '1', hidden: false, displayOrder: 0 }] },
    ] });
    eq([made.status, made.results.map((p) => p.name)], ['COMPLETE', [a, b]], 'created');
    const read = await batch.read('contacts', { archived: false, inputs: [{ name: b }, { name: 'email' }] });
    eq(read.results.map((p) => [p.name, p.type, p.options.map((o) => o.label)]), [[b, 'enumeration', ['One']], ['email', 'string', []]], 'read');
    const dup = await expectApiError(batch.create('contacts', { inputs: [
      { name: c, label: 'C', type: 'string', fieldType: 'text', groupName: 'contactinformation' },
      { name: c, label: 'C again', type: 'string', fieldType: 'text', groupName: 'contactinformation' },
    ] }), 400, 'a name twice');
    eq([dup.body.category, dup.body.errors.map((e) => e.in)], ['VALIDATION_ERROR', ['inputs[1].name']], 'duplicate error');
    await expectApiError(client.crm.properties.coreApi.getByName('contacts', c), 404, 'nothing created');
    const unknown = await expectApiError(batch.read('contacts', { archived: false, inputs: [{ name: 'email' }, { name: 'no_such_property' }] }), 400, 'an unknown name');
    eq(unknown.body.errors.map((e) => e.in), ['inputs[1].name'], 'unknown error');
    const standard = await expectApiError(batch.archive('contacts', { inputs: [{ name: a }, { name: 'email' }] }), 409, 'a standard property');
    eq(standard.body.category, 'CONFLICT', 'category');
    eq((await client.crm.properties.coreApi.getByName('contacts', a)).archived, false, 'a refused batch archives nothing');
    await batch.archive('contacts', { inputs: [{ name: a }, { name: b }] });
    const archived = await batch.read('contacts', { archived: true, inputs: [{ name: a }, { name: b }] });
    eq(archived.results.map((p) => [p.name, p.archived]), [[a, true], [b, true]], 'archived');
  });
  await check('a unique property (hasUniqueValue): idProperty reads, batch read, batch upsert, a taken value is a 409', async () => {
    const companies = client.crm.companies;
    const prop = `ref_${run}`.replace(/[^a-z0-9_]/g, '_');
    const ref = (n) => `R-${n}-${run}`;
    const created = await client.crm.properties.coreApi.create('companies',
      { name: prop, label: 'Reference', type: 'string', fieldType: 'text', groupName: 'companyinformation', hasUniqueValue: true });
    eq([created.name, created.hasUniqueValue], [prop, true], 'created property');
    const read = await client.crm.properties.coreApi.getByName('companies', prop);
    eq(read.hasUniqueValue, true, 'hasUniqueValue read back');
    const one = await companies.basicApi.create({ properties: { name: 'Uniq One', [prop]: ref(1) }, associations: [] });
    const got = await companies.basicApi.getById(ref(1), ['name'], undefined, undefined, false, prop);
    eq([got.id, got.properties.name], [one.id, 'Uniq One'], 'read by idProperty');
    const many = await companies.batchApi.read({ inputs: [{ id: ref(1) }], properties: ['name'], propertiesWithHistory: [], idProperty: prop }, false);
    eq(many.results.map((r) => r.id), [one.id], 'batch read by idProperty');
    const up = await companies.batchApi.upsert({
      inputs: [
        { idProperty: prop, id: ref(1), properties: { name: 'Uniq Renamed' } },
        { idProperty: prop, id: ref(2), properties: { name: 'Uniq Two' } },
      ],
    });
    eq(up.results.length, 2, 'upsert results');
    const u1 = up.results.find((r) => r.id === one.id);
    assert(u1, `${one.id} not among ${JSON.stringify(up.results.map((r) => r.id))}`);
    eq([u1._new, u1.properties.name], [false, 'Uniq Renamed'], 'updated by upsert');
    const u2 = up.results.find((r) => r.id !== one.id);
    eq([u2._new, u2.properties.name, u2.properties[prop]], [true, 'Uniq Two', ref(2)], 'created by upsert');
    const err = await expectApiError(companies.basicApi.create({ properties: { name: 'Twin', [prop]: ref(2) }, associations: [] }), 409, 'duplicate value');
    eq(err.body.category, 'CONFLICT', 'category');
  });

  await check('schemas, and a custom object created through the generic objects API', async () => {
    const name = `boats_${run}`.replace(/[^a-z0-9_]/g, '_');
    const res = await client.apiRequest({ method: 'POST', path: '/crm/v3/schemas', body: { name, labels: { singular: 'Boat', plural: 'Boats' }, properties: [{ name: 'length_m', label: 'Length', type: 'number' }] } });
    eq(res.status, 201, 'create schema status');
    const all = await client.crm.schemas.coreApi.getAll();
    assert(all.results.some((s) => s.name === name), `schema ${name} not listed`);
    const one = await client.crm.schemas.coreApi.getById(name);
    eq([one.objectTypeId, one.labels.plural], [name, 'Boats'], 'schema');
    assert(one.properties.some((p) => p.name === 'length_m'), 'no length_m property');
    const boat = await client.crm.objects.basicApi.create(name, { properties: { length_m: '12' }, associations: [] });
    const got = await client.crm.objects.basicApi.getById(name, boat.id);
    eq(got.properties.length_m, '12', 'length_m');
    await expectApiError(client.crm.schemas.coreApi.getById('no_such_type'), 404, 'missing schema');
  });

  await check('pipelines of deals and tickets, and records in them', async () => {
    const deals = await client.crm.pipelines.pipelinesApi.getAll('deals');
    eq(deals.results.map((p) => p.id), ['default'], 'deal pipelines');
    const stages = await client.crm.pipelines.pipelineStagesApi.getAll('deals', 'default');
    assert(stages.results.some((s) => s.id === 'closedwon'), 'no closedwon stage');
    const tickets = await client.crm.pipelines.pipelinesApi.getById('tickets', '0');
    eq(tickets.stages.map((s) => s.id), ['1', '2', '3', '4'], 'ticket stages');
    const deal = await client.crm.deals.basicApi.create({ properties: { dealname: `Deal ${run}`, pipeline: 'default', dealstage: 'appointmentscheduled', amount: '1000' }, associations: [{ to: { id: company.id }, types: unlabeled(AssociationTypes.dealToCompany) }] });
    eq(deal.properties.dealstage, 'appointmentscheduled', 'deal stage');
    const ticket = await client.crm.tickets.basicApi.create({ properties: { subject: `Ticket ${run}`, hs_pipeline: '0', hs_pipeline_stage: '1' }, associations: [] });
    eq([ticket.properties.hs_pipeline, ticket.properties.hs_pipeline_stage], ['0', '1'], 'ticket pipeline');
    await expectApiError(client.crm.pipelines.pipelinesApi.getById('deals', 'no_such_pipeline'), 404, 'missing pipeline');
    await expectApiError(client.crm.tickets.basicApi.create({ properties: { subject: 'x', hs_pipeline_stage: '9' }, associations: [] }), 400, 'unknown stage');
  });

  await check('pipeline stages by id, and a missing stage is a 404', async () => {
    const won = await client.crm.pipelines.pipelineStagesApi.getById('deals', 'default', 'closedwon');
    eq([won.id, won.archived, won.metadata.isClosed], ['closedwon', false, 'true'], 'closedwon');
    assert(won.createdAt instanceof Date && !isNaN(won.createdAt), `createdAt ${won.createdAt} is not a date`);
    const stages = await client.crm.pipelines.pipelineStagesApi.getAll('tickets', '0');
    eq(stages.results.map((st) => st.displayOrder), [0, 1, 2, 3], 'ticket stages in order');
    const err = await expectApiError(client.crm.pipelines.pipelineStagesApi.getById('deals', 'default', 'no_such_stage'), 404, 'missing stage');
    eq(err.body.category, 'OBJECT_NOT_FOUND', 'category');
    await expectApiError(client.crm.pipelines.pipelinesApi.getAll('contacts'), 400, 'a type without pipelines');
  });

  // The other record types: companies, deals, tickets, and a custom object made with the client's
  // schemas API, each with a unique property for idProperty and upsert.
  const ships = propName('ships');
  await check('schemas: create a custom object with coreApi.create (HubSpot\'s ObjectSchemaEgg)', async () => {
    const made = await client.crm.schemas.coreApi.create({
      name: ships, labels: { singular: 'Ship', plural: 'Ships' }, description: 'Ships', primaryDisplayProperty: 'title',
      requiredProperties: [], searchableProperties: ['title'], secondaryDisplayProperties: [], associatedObjects: ['CONTACT'],
      properties: [
        { name: 'title', label: 'Title', type: 'string', fieldType: 'text' },
        { name: 'hull', label: 'Hull number', type: 'string', fieldType: 'text', hasUniqueValue: true },
        { name: 'tonnage', label: 'Tonnage', type: 'number', fieldType: 'number' }],
    });
    eq([made.objectTypeId, made.labels.plural, made.properties.map((p) => p.name).sort()], [ships, 'Ships', ['hull', 'title', 'tonnage']], 'schema');
    const err = await expectApiError(client.crm.schemas.coreApi.create({
      name: propName('rafts'), labels: { singular: 'Raft', plural: 'Rafts' }, requiredProperties: ['title'], associatedObjects: [],
      properties: [{ name: 'title', label: 'Title', type: 'string', fieldType: 'text' }] }), 400, 'requiredProperties');
    eq([err.body.category, err.body.errors.map((e) => e.in)], ['VALIDATION_ERROR', ['requiredProperties']], 'error');
    const dup = await expectApiError(client.crm.schemas.coreApi.create({ name: ships, labels: { singular: 'Ship', plural: 'Ships' },
      requiredProperties: [], associatedObjects: [], properties: [] }), 409, 'the same schema again');
    eq(dup.body.category, 'CONFLICT', 'category');
  });
  const key = propName('key');
  await check('a unique property on companies, deals and tickets, and a taken name is a 409', async () => {
    for (const type of ['companies', 'deals', 'tickets']) {
      const made = await client.crm.properties.coreApi.create(type, { name: key, label: 'Key', type: 'string', fieldType: 'text', groupName: 'information', hasUniqueValue: true });
      eq([made.name, made.hasUniqueValue], [key, true], `${type} key`);
    }
    const err = await expectApiError(client.crm.properties.coreApi.create('deals', { name: key, label: 'Key', type: 'string', fieldType: 'text', groupName: 'information' }),
      409, 'the same property again');
    eq(err.body.category, 'CONFLICT', 'category');
  });
  await recordsOf('companies', 'name', key);
  await recordsOf('deals', 'dealname', key);
  await recordsOf('tickets', 'subject', key);
  await recordsOf(ships, 'title', 'hull');

  await check('the client\'s getAll pages through getPage to the end', async () => {
    const all = await client.crm.companies.getAll(3, undefined, ['name']);
    assert(all.some((c) => c.id === company.id), `company ${company.id} not among ${all.length}`);
    eq(new Set(all.map((c) => c.id)).size, all.length, 'each company once');
  });

  // Associations v4: crm.associations.v4.basicApi (the per-object associationsApi is gone from
  // the client since version 11). crmflow keeps no labels: only HubSpot's default types.
  await check('associations v4: createDefault, getPage with its types, getById with associations, archive', async () => {
    const v4 = client.crm.associations.v4.basicApi;
    const deal = await client.crm.deals.basicApi.create({ properties: { dealname: `Linked ${run}` }, associations: [] });
    const made = await v4.createDefault('deals', deal.id, 'companies', company.id);
    eq(made.status, 'COMPLETE', 'status');
    eq(made.results.map((r) => [r._from.id, r.to.id, r.associationSpec.associationCategory, r.associationSpec.associationTypeId]),
      [[deal.id, company.id, 'HUBSPOT_DEFINED', AssociationTypes.dealToCompany]], 'results');
    assert(made.startedAt instanceof Date && made.completedAt instanceof Date, 'startedAt and completedAt are dates');
    const page = await v4.getPage('companies', company.id, 'deals');
    const back = page.results.find((r) => r.toObjectId === deal.id);
    assert(back, `deal ${deal.id} not among ${JSON.stringify(page.results)}`);
    eq(back.associationTypes.map((t) => [t.category, t.typeId, t.label]),
      [['HUBSPOT_DEFINED', AssociationTypes.companyToDeal, null]], 'types from the company');
    const got = await client.crm.deals.basicApi.getById(deal.id, undefined, undefined, ['companies']);
    eq(got.associations.companies.results.map((r) => r.id), [company.id], 'read with associations');
    await v4.archive('deals', deal.id, 'companies', company.id);
    eq((await v4.getPage('deals', deal.id, 'companies')).results, [], 'after archive');
    const err = await expectApiError(v4.createDefault('deals', deal.id, 'companies', '999999999'), 404, 'a missing record');
    eq(err.body.category, 'OBJECT_NOT_FOUND', 'category');
  });
  await check('associations v4: create with a default type (201), a label is a 400, pages of getPage', async () => {
    const v4 = client.crm.associations.v4.basicApi;
    const made = await contacts.batchApi.create({ inputs: [0, 1, 2, 3, 4].map((i) => ({ properties: { email: email(`assoc${i}`) }, associations: [] })) });
    const people = sorted(made.results.map((r) => r.id));
    for (const id of people) {
      const pair = await v4.create('companies', company.id, 'contacts', id, [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: AssociationTypes.companyToContact }]);
      eq([pair.fromObjectTypeId, pair.fromObjectId, pair.toObjectTypeId, pair.toObjectId, pair.labels], ['0-2', company.id, '0-1', id, []], 'pair');
    }
    const err = await expectApiError(v4.create('companies', company.id, 'contacts', people[0], [{ associationCategory: 'USER_DEFINED', associationTypeId: 36 }]),
      400, 'a label');
    eq(err.body.category, 'VALIDATION_ERROR', 'category');
    const seen = [];
    let after;
    for (let pages = 0; ; pages++) {
      assert(pages < 100, 'paging does not end');
      const page = await v4.getPage('companies', company.id, 'contacts', after, 2);
      assert(page.results.length <= 2, `page of ${page.results.length}`);
      seen.push(...page.results.map((r) => r.toObjectId));
      if (!page.paging || !page.paging.next) break;
      after = page.paging.next.after;
    }
    for (const id of people) assert(seen.includes(id), `contact ${id} not paged`);
    eq(seen, sorted(seen), 'ascending ids');
    eq(new Set(seen).size, seen.length, 'each contact once');
  });
  // A read with associations shows 100 linked records of a type, as HubSpot's, with paging.next
  // going on at the association read.
  await check('a read with associations: 100 of a type, paging.next on to associations v4 getPage', async () => {
    const who = await contacts.basicApi.create({ properties: { email: email('manyfirms') }, associations: [] });
    const firms = [];
    for (const n of [100, 1]) {
      const made = await client.crm.companies.batchApi.create({ inputs: Array.from({ length: n }, (_, i) => ({ properties: { name: `Many ${firms.length + i} ${run}` }, associations: [] })) });
      firms.push(...made.results.map((r) => r.id));
    }
    const all = sorted(firms);
    await client.crm.associations.v4.batchApi.createDefault('contacts', 'companies', { inputs: all.map((id) => ({ _from: { id: who.id }, to: { id } })) });
    const shown = (await contacts.basicApi.getById(who.id, undefined, undefined, ['companies'])).associations.companies;
    eq(shown.results.map((r) => r.id), all.slice(0, 100), 'the first 100 companies, by ascending id');
    eq(shown.paging.next.after, all[99], 'paging.next.after');
    const rest = await client.crm.associations.v4.basicApi.getPage('contacts', who.id, 'companies', shown.paging.next.after);
    eq(rest.results.map((r) => r.toObjectId), [all[100]], 'the rest, from associations v4 getPage');
    const raw = await (await client.apiRequest({ method: 'GET', path: `/crm/v3/objects/contacts/${who.id}?associations=companies` })).json();
    eq(models.problems('crm/contacts', 'SimplePublicObjectWithAssociations', raw), [], "the answer against the client's model");
  });
  await check('associations v4: a custom object links with createDefault, without a type id', async () => {
    const v4 = client.crm.associations.v4.basicApi;
    const ship = await client.crm.objects.basicApi.create(ships, { properties: { title: 'Linked', hull: `H-linked-${run}` }, associations: [] });
    const made = await v4.createDefault(ships, ship.id, 'contacts', batch.results[0].id);
    eq(made.results.map((r) => [r._from.id, r.to.id, r.associationSpec]), [[ship.id, batch.results[0].id, undefined]], 'results');
    const page = await v4.getPage('contacts', batch.results[0].id, ships);
    eq(page.results.map((r) => [r.toObjectId, r.associationTypes]), [[ship.id, []]], 'from the contact');
  });
  // Associations v4 batches: crm.associations.v4.batchApi. Each batch is one atomic step.
  await check('associations v4 batchApi: createDefault, create, getPage, archiveLabels, archive, and a reader', async () => {
    const v4 = client.crm.associations.v4.batchApi;
    const made = await contacts.batchApi.create({ inputs: [0, 1, 2].map((i) => ({ properties: { email: email(`batchassoc${i}`) }, associations: [] })) });
    const people = sorted(made.results.map((r) => r.id));
    const firms = [];
    for (const i of [0, 1]) firms.push((await client.crm.companies.basicApi.create({ properties: { name: `Batch ${i} ${run}` }, associations: [] })).id);

    const linked = await v4.createDefault('contacts', 'companies', { inputs: [{ _from: { id: people[0] }, to: { id: firms[0] } }, { _from: { id: people[1] }, to: { id: firms[0] } }] });
    eq(linked.status, 'COMPLETE', 'createDefault status');
    eq(linked.results.map((r) => [r._from.id, r.to.id, r.associationSpec.associationTypeId]),
      [[people[0], firms[0], AssociationTypes.contactToCompany], [people[1], firms[0], AssociationTypes.contactToCompany]], 'createDefault results');
    assert(linked.numErrors === undefined, `createDefault numErrors ${linked.numErrors}`);
    // A record that does not exist: the input is named in errors, and the others are linked.
    const partly = await v4.createDefault('contacts', 'companies', { inputs: [{ _from: { id: people[2] }, to: { id: '999999999' } }, { _from: { id: people[2] }, to: { id: firms[1] } }] });
    eq([partly.results.map((r) => r.to.id), partly.numErrors, partly.errors.map((e) => [e.category, e.context.input])],
      [[firms[1]], 1, [['OBJECT_NOT_FOUND', ['inputs[0].to.id']]]], 'createDefault with a missing record');

    const typed = await v4.create('companies', 'contacts', { inputs: [{ _from: { id: firms[1] }, to: { id: people[0] }, types: unlabeled(AssociationTypes.companyToContact) }] });
    eq(typed.results.map((r) => [r.fromObjectTypeId, r.fromObjectId, r.toObjectTypeId, r.toObjectId, r.labels]),
      [['0-2', firms[1], '0-1', people[0], []]], 'create results');
    const withErrors = await v4.create('companies', 'contacts', { inputs: [{ _from: { id: '999999999' }, to: { id: people[0] }, types: unlabeled(AssociationTypes.companyToContact) }] });
    eq([withErrors.results, withErrors.numErrors, withErrors.errors[0].context.input], [[], 1, ['inputs[0].from.id']], 'create of a missing record (207)');
    const label = await expectApiError(v4.create('companies', 'contacts', { inputs: [{ _from: { id: firms[1] }, to: { id: people[1] }, types: [{ associationCategory: 'USER_DEFINED', associationTypeId: 36 }] }] }),
      400, 'a label');
    eq([label.body.category, label.body.errors.map((e) => e.in)], ['VALIDATION_ERROR', ['inputs[0].types']], 'label error');

    const read = await v4.getPage('contacts', 'companies', { inputs: [{ id: people[0] }, { id: people[2] }, { id: '999999999' }] });
    eq(read.results.map((r) => [r._from.id, r.to.map((t) => t.toObjectId)]), [[people[0], sorted([firms[0], firms[1]])], [people[2], [firms[1]]]], 'getPage results');
    eq(read.results[0].to[0].associationTypes.map((t) => [t.category, t.typeId, t.label]),
      [['HUBSPOT_DEFINED', AssociationTypes.contactToCompany, null]], 'getPage types');
    eq([read.numErrors, read.errors[0].context.ids], [1, ['999999999']], 'getPage of a missing record (207)');
    const back = await v4.getPage('companies', 'contacts', { inputs: [{ id: firms[0] }] });
    eq(back.results[0].to.map((t) => t.toObjectId), sorted([people[0], people[1]]), 'getPage from the company');
    assert(back.results[0].paging === undefined, 'one page, no paging');

    // Removing the unlabeled type removes the association; the primary type alone leaves it.
    await v4.archiveLabels('contacts', 'companies', { inputs: [
      { _from: { id: people[0] }, to: { id: firms[0] }, types: unlabeled(AssociationTypes.contactToCompany) },
      { _from: { id: people[1] }, to: { id: firms[0] }, types: unlabeled(AssociationTypes.primaryContactToCompany) }] });
    eq((await v4.getPage('companies', 'contacts', { inputs: [{ id: firms[0] }] })).results[0].to.map((t) => t.toObjectId), [people[1]], 'after archiveLabels');
    await v4.archive('contacts', 'companies', { inputs: [{ _from: { id: people[0] }, to: [{ id: firms[1] }] }, { _from: { id: people[1] }, to: [{ id: firms[0] }, { id: firms[1] }] }] });
    const after = await v4.getPage('contacts', 'companies', { inputs: [{ id: people[0] }, { id: people[1] }] });
    eq(after.results.map((r) => r.to), [[], []], 'after archive');
    const gone = await expectApiError(v4.archive('contacts', 'companies', { inputs: [{ _from: { id: people[2] }, to: [{ id: firms[1] }, { id: '999999999' }] }] }),
      404, 'an archive naming a missing record');
    eq([gone.body.category, gone.body.errors.map((e) => e.in)], ['OBJECT_NOT_FOUND', ['inputs[0].to[1].id']], 'archive error');
    eq((await v4.getPage('contacts', 'companies', { inputs: [{ id: people[2] }] })).results[0].to.map((t) => t.toObjectId), [firms[1]], 'a refused archive removes nothing');
    const reader = new Client({ accessToken: readToken, basePath: base });
    const denied = await expectApiError(reader.crm.associations.v4.batchApi.createDefault('contacts', 'companies', { inputs: [{ _from: { id: people[2] }, to: { id: firms[0] } }] }),
      403, 'a batch associate by a reader');
    eq(denied.body.category, 'MISSING_SCOPES', 'category');
    eq((await reader.crm.associations.v4.batchApi.getPage('contacts', 'companies', { inputs: [{ id: people[2] }] })).results.length, 1, 'a batch read by a reader');
  });

  // Lists v3: static (MANUAL) lists of contacts and companies.
  await check('lists: create, getById, getAll by ids; a dynamic list is a 400', async () => {
    const made = await client.crm.lists.listsApi.create({ name: `Newsletter ${run}`, objectTypeId: '0-1', processingType: 'MANUAL' });
    const l = made.list;
    eq([l.name, l.objectTypeId, l.processingType, l.processingStatus, l.listVersion, l.size], [`Newsletter ${run}`, '0-1', 'MANUAL', 'COMPLETE', 1, 0], 'list');
    assert(l.createdAt instanceof Date && !isNaN(l.createdAt), `createdAt ${l.createdAt} is not a date`);
    eq((await client.crm.lists.listsApi.getById(l.listId)).list.name, `Newsletter ${run}`, 'getById');
    const some = await client.crm.lists.listsApi.getAll([l.listId, '999999999']);
    eq(some.lists.map((x) => x.listId), [l.listId], 'getAll by ids');
    const err = await expectApiError(client.crm.lists.listsApi.create({ name: `Dyn ${run}`, objectTypeId: '0-1', processingType: 'DYNAMIC' }), 400, 'dynamic list');
    eq([err.body.category, err.body.errors.map((e) => e.in)], ['VALIDATION_ERROR', ['processingType']], 'error');
    await client.crm.lists.listsApi.remove(l.listId);
    const gone = await expectApiError(client.crm.lists.listsApi.getById(l.listId), 404, 'removed list');
    eq(gone.body.category, 'OBJECT_NOT_FOUND', 'category');
  });
  await check('lists: doSearch pages by offset and count, its query ignores case; a count past 500 is a 400', async () => {
    const lists = client.crm.lists.listsApi;
    const made = [];
    for (const i of [0, 1, 2]) {
      made.push((await lists.create({ name: `Search ${run} ${i}`, objectTypeId: i === 2 ? '0-2' : '0-1', processingType: 'MANUAL' })).list.listId);
    }
    await lists.create({ name: `Other ${run}`, objectTypeId: '0-1', processingType: 'MANUAL' });
    const query = `search ${run}`.toUpperCase();
    const first = await lists.doSearch({ query, count: 2, offset: 0, processingTypes: ['MANUAL'], additionalProperties: [] });
    eq([first.lists.map((l) => l.listId), first.offset, first.hasMore, first.total], [made.slice(0, 2), 2, true, 3], 'first page');
    eq([first.lists[0].processingType, first.lists[0].objectTypeId, first.lists[0].additionalProperties], ['MANUAL', '0-1', { hs_list_size: '0' }], 'a list found');
    const next = await lists.doSearch({ query, count: 2, offset: first.offset });
    eq([next.lists.map((l) => l.listId), next.offset, next.hasMore, next.total], [made.slice(2), 3, false, 3], 'last page');
    const byIds = await lists.doSearch({ listIds: [made[2], made[0]] });
    eq(byIds.lists.map((l) => l.listId), [made[0], made[2]], 'listIds');
    const dynamic = await lists.doSearch({ query, processingTypes: ['DYNAMIC'] });
    eq([dynamic.lists, dynamic.total], [[], 0], 'no DYNAMIC list');
    const err = await expectApiError(lists.doSearch({ query, count: 501 }), 400, 'count 501');
    eq([err.body.category, err.body.errors.map((e) => e.in)], ['VALIDATION_ERROR', ['count']], 'error');
  });
  await check('lists: getByName with an escaped name, ignoring case; an unknown name is a 404', async () => {
    const lists = client.crm.lists.listsApi;
    const name = `Spring / leads & 50% ${run}`;
    const made = (await lists.create({ name, objectTypeId: '0-1', processingType: 'MANUAL' })).list;
    const got = await lists.getByName(name.toUpperCase(), '0-1');
    eq([got.list.listId, got.list.name, got.list.objectTypeId, got.list.processingType], [made.listId, name, '0-1', 'MANUAL'], 'by name');
    eq((await lists.getByName(name, 'contacts', true)).list.listId, made.listId, 'by the type name, includeFilters');
    const err = await expectApiError(lists.getByName(name, '0-2'), 404, 'a name of another type');
    eq(err.body.category, 'OBJECT_NOT_FOUND', 'category');
  });
  await check('lists: memberships add, getPage, getLists, remove', async () => {
    const lists = client.crm.lists;
    const l = (await lists.listsApi.create({ name: `Members ${run}`, objectTypeId: '0-1', processingType: 'MANUAL' })).list;
    const made = await contacts.batchApi.create({ inputs: [0, 1, 2, 3, 4].map((i) => ({ properties: { email: email(`member${i}`) }, associations: [] })) });
    const people = sorted(made.results.map((r) => r.id));
    const added = await lists.membershipsApi.add(l.listId, [...people, '999999999']);
    eq([added.recordsIdsAdded, added.recordIdsMissing, added.recordIdsRemoved], [people, ['999999999'], []], 'add');
    const again = await lists.membershipsApi.add(l.listId, [people[0]]);
    eq(again.recordsIdsAdded, [], 'adding a member again adds nothing');
    const members = await pageAll((limit, after) => lists.membershipsApi.getPage(l.listId, after, undefined, limit), 2);
    eq(members.map((m) => m.recordId), people, 'members, paged');
    eq((await lists.listsApi.getById(l.listId)).list.size, 5, 'size');
    const of = await lists.membershipsApi.getLists('0-1', people[0]);
    eq(of.results.map((m) => [m.listId, m.listVersion]), [[l.listId, 1]], 'the lists of a contact');
    const removed = await lists.membershipsApi.remove(l.listId, [people[0], people[1]]);
    eq([removed.recordIdsRemoved, removed.recordsIdsAdded, removed.recordIdsMissing], [people.slice(0, 2), [], []], 'remove');
    const left = await lists.membershipsApi.getPage(l.listId, undefined, undefined, 100);
    eq(left.results.map((m) => m.recordId), people.slice(2), 'members left');
    const back = await expectApiError(lists.membershipsApi.getPage(l.listId, undefined, 'Mg', 1), 400, 'paging backward (before)');
    eq([back.body.category, back.body.errors.map((e) => e.in)], ['VALIDATION_ERROR', ['before']], 'error');
    const err = await expectApiError(lists.membershipsApi.add('999999999', [people[0]]), 404, 'a missing list');
    eq(err.body.category, 'OBJECT_NOT_FOUND', 'category');
  });

  // Property updates: coreApi.update (PATCH) with HubSpot's PropertyUpdate.
  await check('properties: update label, description, displayOrder, hidden and options (the whole new list)', async () => {
    const props = client.crm.properties.coreApi;
    const name = propName('fit');
    await props.create('contacts', { name, label: 'Fit', type: 'enumeration', fieldType: 'select', groupName: 'contactinformation',
      options: [{ label: 'Slim', value: 'slim', displayOrder: 0, hidden: false }, { label: 'Loose', value: 'loose', displayOrder: 1, hidden: false }] });
    const upd = await props.update('contacts', name, {
      label: 'Cut', description: 'How it fits', displayOrder: 4, hidden: true, formField: true, fieldType: 'radio', groupName: 'contactinformation',
      options: [{ label: 'Slim', value: 'slim', displayOrder: 0, hidden: false }, { label: 'Loose', value: 'loose', displayOrder: 1, hidden: false },
        { label: 'Regular', value: 'regular', displayOrder: 2, hidden: false }],
    });
    eq([upd.label, upd.description, upd.displayOrder, upd.hidden, upd.formField, upd.type, upd.options.map((o) => [o.label, o.value])],
      ['Cut', 'How it fits', 4, true, true, 'enumeration', [['Slim', 'slim'], ['Loose', 'loose'], ['Regular', 'regular']]], 'updated');
    const read = await props.getByName('contacts', name);
    eq([read.label, read.description, read.options.length], ['Cut', 'How it fits', 3], 'read back');
    const made = await client.crm.contacts.basicApi.create({ properties: { email: email('fit'), [name]: 'regular' }, associations: [] });
    eq(made.properties[name], 'regular', 'the new option is usable');
    // An option a live contact holds cannot go: 409 naming the count; nothing changes.
    const held = await expectApiError(props.update('contacts', name, { options: [{ label: 'Slim', value: 'slim', hidden: false }] }), 409, 'remove a held option');
    eq([held.body.category, held.body.errors[0].code, held.body.context.records], ['CONFLICT', 'PROPERTY_IN_USE', ['1']], 'in use');
    eq((await props.getByName('contacts', name)).options.length, 3, 'unchanged');
    // A label alone keeps the rest.
    eq((await props.update('contacts', name, { label: 'Fit' })).description, 'How it fits', 'partial update');
  });

  await check('properties: update errors are ApiExceptions (404 unknown, 400 standard or invalid, 409 in use by a workflow)', async () => {
    const props = client.crm.properties.coreApi;
    const missing = await expectApiError(props.update('contacts', propName('nope'), { label: 'X' }), 404, 'an unknown property');
    eq(missing.body.category, 'OBJECT_NOT_FOUND', 'category');
    const std = await expectApiError(props.update('contacts', 'email', { label: 'Mail' }), 400, 'a standard property');
    eq([std.body.category, std.body.errors[0].code], ['VALIDATION_ERROR', 'READ_ONLY_DEFINITION'], 'standard');
    const name = propName('tone');
    await props.create('contacts', { name, label: 'Tone', type: 'string', fieldType: 'text', groupName: 'information' });
    const bad = await expectApiError(props.update('contacts', name, { type: 'number', fieldType: 'select' }), 400, 'a fieldType of another type');
    eq([bad.body.category, bad.body.errors[0].code, bad.body.errors[0].in], ['VALIDATION_ERROR', 'INVALID_FIELD_TYPE', 'fieldType'], 'fieldType');
    // A type change that no record's value stands in the way of.
    eq((await props.update('contacts', name, { type: 'number', fieldType: 'number' })).type, 'number', 'string to number');
    // A type an active workflow's trigger reads stays.
    const flow = `tone-${run}`.replace(/[^a-z0-9-]/g, '-');
    const src = `name: ${flow}\nobject_type: contacts\ntrigger: ${name} > 3\nactions:\n  - type: set_property\n    property: jobtitle\n    value: Loud\n`;
    let res = await client.apiRequest({ method: 'PUT', path: `/automation/v4/flows/${flow}`, body: src, defaultJson: false, headers: { 'Content-Type': 'application/yaml' } });
    assert(res.status === 200 || res.status === 201, `put workflow: ${res.status} ${await res.text()}`);
    res = await client.apiRequest({ method: 'POST', path: `/automation/v4/flows/${flow}/activate` });
    assert(res.status === 200, `activate workflow: ${res.status} ${await res.text()}`);
    const used = await expectApiError(props.update('contacts', name, { type: 'string', fieldType: 'text' }), 409, 'a type a trigger reads');
    eq([used.body.category, used.body.errors[0].code, used.body.context.workflows], ['CONFLICT', 'PROPERTY_IN_USE', [flow]], 'workflow named');
    eq((await props.getByName('contacts', name)).type, 'number', 'unchanged');
    res = await client.apiRequest({ method: 'POST', path: `/automation/v4/flows/${flow}/pause` });
    assert(res.status === 200, `pause workflow: ${res.status}`);
  });

  // coreApi.archive hides a property and keeps its records' values; crmflow's restore (through
  // apiRequest: HubSpot restores in its screens) brings them back as they were.
  await check('properties: archive hides a property and keeps its values, restore brings them back', async () => {
    const props = client.crm.properties.coreApi;
    const name = propName('fixed');
    await props.create('contacts', { name, label: 'Fixed', type: 'string', fieldType: 'text', groupName: 'information' });
    const made = await client.crm.contacts.basicApi.create({ properties: { email: email('fixed'), [name]: 'kept' }, associations: [] });
    await props.archive('contacts', name);
    const listed = (await props.getAll('contacts', true)).results.find((p) => p.name === name);
    assert(listed && listed.archived === true && listed.archivedAt instanceof Date, `archived=true lists it: ${JSON.stringify(listed)}`);
    assert(!(await props.getAll('contacts')).results.some((p) => p.name === name), 'the properties leave it out');
    eq((await props.getByName('contacts', name, true)).archived, true, 'read with archived=true');
    await expectApiError(props.getByName('contacts', name), 404, 'read without archived=true');
    eq((await client.crm.contacts.basicApi.getById(made.id, [name, 'email'])).properties[name], undefined, 'its value is hidden');
    const write = await expectApiError(client.crm.contacts.basicApi.update(made.id, { properties: { [name]: 'new' } }), 400, 'a write of it', ContactsApiException);
    eq([write.body.category, write.body.errors[0].code], ['VALIDATION_ERROR', 'PROPERTY_ARCHIVED'], 'refused');
    const again = await expectApiError(props.create('contacts', { name, label: 'Again', type: 'string', fieldType: 'text', groupName: 'information' }), 409, 'a new one of its name');
    eq(again.body.errors[0].code, 'PROPERTY_ARCHIVED', 'code');
    const res = await client.apiRequest({ method: 'POST', path: `/crm/v3/properties/contacts/${name}/restore` });
    const restored = await res.json();
    assert(res.status === 200, `restore: ${res.status} ${JSON.stringify(restored)}`);
    eq([restored.name, restored.archived], [name, false], 'restored');
    eq((await client.crm.contacts.basicApi.getById(made.id, [name])).properties[name], 'kept', 'the value is back');
    // One left archived, for the check of the answers against the client's models.
    const gone = propName('gone');
    await props.create('contacts', { name: gone, label: 'Gone', type: 'number', fieldType: 'number', groupName: 'information' });
    await props.archive('contacts', gone);
    const std = await expectApiError(props.archive('contacts', 'email'), 409, 'a standard property');
    eq([std.body.category, std.body.errors[0].code], ['CONFLICT', 'PROPERTY_NOT_ARCHIVABLE'], 'standard');
  });

  await check('property groups: the one group, information, every property is in', async () => {
    const all = await client.crm.properties.groupsApi.getAll('deals');
    eq(all.results.map((g) => [g.name, g.label, g.displayOrder, g.archived]), [['information', 'Information', 0, false]], 'groups');
    const email = await client.crm.properties.coreApi.getByName('contacts', 'email');
    eq((await client.crm.properties.groupsApi.getByName('contacts', email.groupName)).name, email.groupName, 'the group of a property');
    const err = await expectApiError(client.crm.properties.groupsApi.getByName('contacts', 'contactinformation'), 404, 'another group');
    eq(err.body.category, 'OBJECT_NOT_FOUND', 'category');
  });

  // Search: POST /crm/v3/objects/{type}/search through contacts.searchApi.doSearch. Twelve contacts
  // of this run's own, told apart from every other contact by their email's pattern.
  const tag = `${run}x`;
  const mine = { propertyName: 'email', operator: 'CONTAINS_TOKEN', value: `*.${tag}@example.com` };
  const search = (filters, extra = {}) => client.crm.contacts.searchApi.doSearch({
    filterGroups: [{ filters: [mine, ...filters] }], properties: ['firstname', 'num_notes', 'lifecyclestage'], limit: 100, ...extra });
  const names = (r) => r.results.map((c) => c.properties.firstname).sort();
  await check('search: the contacts to search', async () => {
    const inputs = [];
    for (let i = 0; i < 12; i++) {
      const props = { email: `s${i}.${tag}@example.com`, firstname: `S${i}`, num_notes: String(i), lifecyclestage: i % 2 ? 'customer' : 'lead' };
      if (i < 3) props.phone = `+1 555 010${i}`;
      inputs.push({ properties: props, associations: [] });
    }
    const r = await client.crm.contacts.batchApi.create({ inputs });
    eq(r.results.length, 12, 'created');
    const all = await search([]);
    eq(all.total, 12, 'total of the run\'s contacts');
  });
  await check('search: EQ, NEQ, IN, NOT_IN', async () => {
    eq(names(await search([{ propertyName: 'firstname', operator: 'EQ', value: 'S3' }])), ['S3'], 'EQ');
    eq((await search([{ propertyName: 'lifecyclestage', operator: 'NEQ', value: 'lead' }])).total, 6, 'NEQ');
    eq((await search([{ propertyName: 'lifecyclestage', operator: 'IN', values: ['lead'] }])).total, 6, 'IN');
    eq(names(await search([{ propertyName: 'firstname', operator: 'NOT_IN', values: ['S0', 'S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7', 'S8', 'S9'] }])), ['S10', 'S11'], 'NOT_IN');
  });
  await check('search: LT, LTE, GT, GTE, BETWEEN on a number', async () => {
    eq((await search([{ propertyName: 'num_notes', operator: 'LT', value: '3' }])).total, 3, 'LT');
    eq((await search([{ propertyName: 'num_notes', operator: 'LTE', value: '3' }])).total, 4, 'LTE');
    eq((await search([{ propertyName: 'num_notes', operator: 'GT', value: '9' }])).total, 2, 'GT');
    eq((await search([{ propertyName: 'num_notes', operator: 'GTE', value: '9' }])).total, 3, 'GTE');
    eq(names(await search([{ propertyName: 'num_notes', operator: 'BETWEEN', value: '4', highValue: '6' }])), ['S4', 'S5', 'S6'], 'BETWEEN');
  });
  await check('search: HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN', async () => {
    eq(names(await search([{ propertyName: 'phone', operator: 'HAS_PROPERTY' }])), ['S0', 'S1', 'S2'], 'HAS_PROPERTY');
    eq((await search([{ propertyName: 'phone', operator: 'NOT_HAS_PROPERTY' }])).total, 9, 'NOT_HAS_PROPERTY');
    const one = await client.crm.contacts.searchApi.doSearch({ filterGroups: [{ filters: [{ propertyName: 'email', operator: 'CONTAINS_TOKEN', value: `*s7.${tag}@example.com` }] }], limit: 10 });
    eq(one.total, 1, 'CONTAINS_TOKEN with a pattern');
  });
  await check('search: OR of groups, sorts, paging to the end', async () => {
    const or = await client.crm.contacts.searchApi.doSearch({ filterGroups: [
      { filters: [mine, { propertyName: 'firstname', operator: 'EQ', value: 'S1' }] },
      { filters: [mine, { propertyName: 'firstname', operator: 'EQ', value: 'S2' }] }], properties: ['firstname'], limit: 10 });
    eq(names(or), ['S1', 'S2'], 'OR of two groups');
    const desc = await search([], { sorts: [{ propertyName: 'num_notes', direction: 'DESCENDING' }] });
    eq(desc.results.map((c) => c.properties.num_notes), ['11', '10', '9', '8', '7', '6', '5', '4', '3', '2', '1', '0'], 'sorted descending');
    const seen = [];
    let after;
    for (let page = 0; page < 10; page++) {
      const r = await search([], { limit: 5, after, sorts: [{ propertyName: 'num_notes', direction: 'ASCENDING' }] });
      seen.push(...r.results.map((c) => c.properties.num_notes));
      if (!r.paging || !r.paging.next) break;
      after = r.paging.next.after;
    }
    eq(seen, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11'], 'every page, in order, once');
  });
  await check('search and read name hs_object_id, createdate and lastmodifieddate', async () => {
    const r = await client.crm.contacts.searchApi.doSearch({ filterGroups: [{ filters: [mine] }],
      properties: ['hs_object_id', 'createdate', 'lastmodifieddate'], limit: 1 });
    const c = r.results[0];
    eq([c.properties.hs_object_id, new Date(c.properties.createdate).getTime(), new Date(c.properties.lastmodifieddate).getTime()],
      [c.id, c.createdAt.getTime(), c.updatedAt.getTime()], 'search');
    const got = await client.crm.contacts.basicApi.getById(c.id, ['hs_object_id', 'lastmodifieddate']);
    eq([got.properties.hs_object_id, new Date(got.properties.lastmodifieddate).getTime()], [c.id, c.updatedAt.getTime()], 'read');
  });
  await check('search: a bad filter is a 400', async () => {
    await expectApiError(search([{ propertyName: 'num_notes', operator: 'NOPE', value: '1' }]), 400, 'unknown operator', ContactsApiException);
    await expectApiError(search([{ propertyName: 'no_such_property', operator: 'EQ', value: '1' }]), 400, 'unknown property', ContactsApiException);
    await expectApiError(search([{ propertyName: 'num_notes', operator: 'EQ', value: 'twelve' }]), 400, 'not a number', ContactsApiException);
  });

  // Search on companies and deals, through their own searchApi: each operator on the property
  // types it applies to, sorts, paging and the properties returned.
  const ctag = `${run}c`;
  const ownCompanies = { propertyName: 'domain', operator: 'CONTAINS_TOKEN', value: `*.${ctag}.example` };
  const searchCompanies = (filters, extra = {}) => client.crm.companies.searchApi.doSearch({
    filterGroups: [{ filters: [ownCompanies, ...filters] }], properties: ['name', 'numberofemployees'], limit: 100, ...extra });
  const nums = (r) => r.results.map((c) => Number(c.properties.name.split(' ')[1])).sort((a, b) => a - b);
  await check('companies search: the companies to search', async () => {
    const inputs = [0, 1, 2, 3, 4, 5].map((i) => ({ associations: [], properties: {
      name: `Srch ${i} ${ctag}`, domain: `c${i}.${ctag}.example`, numberofemployees: String(i * 10),
      lifecyclestage: i % 2 ? 'customer' : 'lead', ...(i < 2 ? { city: 'Oslo' } : {}) } }));
    eq((await client.crm.companies.batchApi.create({ inputs })).results.length, 6, 'created');
    const all = await searchCompanies([]);
    eq([all.total, nums(all)], [6, [0, 1, 2, 3, 4, 5]], 'the run\'s companies');
  });
  await check('companies search: EQ, NEQ, IN, NOT_IN', async () => {
    eq(nums(await searchCompanies([{ propertyName: 'domain', operator: 'EQ', value: `C3.${ctag}.EXAMPLE` }])), [3], 'EQ, any case');
    eq(nums(await searchCompanies([{ propertyName: 'lifecyclestage', operator: 'NEQ', value: 'lead' }])), [1, 3, 5], 'NEQ');
    eq(nums(await searchCompanies([{ propertyName: 'numberofemployees', operator: 'IN', values: ['0', '50'] }])), [0, 5], 'IN on a number');
    eq(nums(await searchCompanies([{ propertyName: 'lifecyclestage', operator: 'NOT_IN', values: ['customer'] }])), [0, 2, 4], 'NOT_IN');
  });
  await check('companies search: LT, GT, BETWEEN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN', async () => {
    eq(nums(await searchCompanies([{ propertyName: 'numberofemployees', operator: 'LT', value: '20' }])), [0, 1], 'LT');
    eq(nums(await searchCompanies([{ propertyName: 'numberofemployees', operator: 'GT', value: '30' }])), [4, 5], 'GT');
    eq(nums(await searchCompanies([{ propertyName: 'numberofemployees', operator: 'BETWEEN', value: '10', highValue: '30' }])), [1, 2, 3], 'BETWEEN, both ends');
    eq(nums(await searchCompanies([{ propertyName: 'city', operator: 'HAS_PROPERTY' }])), [0, 1], 'HAS_PROPERTY');
    eq(nums(await searchCompanies([{ propertyName: 'city', operator: 'NOT_HAS_PROPERTY' }])), [2, 3, 4, 5], 'NOT_HAS_PROPERTY');
    eq(nums(await client.crm.companies.searchApi.doSearch({ filterGroups: [{ filters: [{ propertyName: 'name', operator: 'CONTAINS_TOKEN', value: ctag }] }],
      properties: ['name'], limit: 10 })), [0, 1, 2, 3, 4, 5], 'CONTAINS_TOKEN, a word of the name');
  });
  await check('companies search: sorts, after, properties, query', async () => {
    const seen = [];
    let after;
    for (let page = 0; page < 10; page++) {
      const r = await searchCompanies([], { limit: 4, after, properties: ['numberofemployees'], sorts: [{ propertyName: 'numberofemployees', direction: 'DESCENDING' }] });
      eq(r.total, 6, 'total on each page');
      for (const c of r.results) eq(Object.keys(c.properties).filter((k) => k !== 'hs_object_id' && k !== 'createdate' && k !== 'lastmodifieddate'), ['numberofemployees'], 'properties returned');
      seen.push(...r.results.map((c) => c.properties.numberofemployees));
      if (!r.paging || !r.paging.next) break;
      after = r.paging.next.after;
    }
    eq(seen, ['50', '40', '30', '20', '10', '0'], 'pages, sorted descending');
    eq((await searchCompanies([], { query: 'srch' })).total, 6, 'query: a prefix of the name');
  });

  const dtag = `${run}d`;
  const ownDeals = { propertyName: 'dealname', operator: 'CONTAINS_TOKEN', value: dtag };
  const searchDeals = (filters, extra = {}) => client.crm.deals.searchApi.doSearch({
    filterGroups: [{ filters: [ownDeals, ...filters] }], properties: ['dealname', 'amount', 'closedate', 'dealstage'], limit: 100, ...extra });
  const dealNums = (r) => r.results.map((d) => Number(d.properties.dealname.split(' ')[1])).sort((a, b) => a - b);
  await check('deals search: the deals to search', async () => {
    const inputs = [0, 1, 2, 3, 4].map((i) => ({ associations: [], properties: {
      dealname: `Deal ${i} ${dtag}`, amount: String(i * 100), pipeline: 'default', dealstage: i % 2 ? 'closedwon' : 'appointmentscheduled',
      ...(i < 4 ? { closedate: `2026-0${i + 1}-15T00:00:00.000Z` } : {}) } }));
    eq((await client.crm.deals.batchApi.create({ inputs })).results.length, 5, 'created');
    eq((await searchDeals([])).total, 5, 'the run\'s deals');
  });
  await check('deals search: a datetime (date, RFC 3339, unix ms), a number, an enumeration', async () => {
    eq(dealNums(await searchDeals([{ propertyName: 'closedate', operator: 'GT', value: '2026-02-15' }])), [2, 3], 'GT a date');
    eq(dealNums(await searchDeals([{ propertyName: 'closedate', operator: 'BETWEEN', value: String(Date.parse('2026-01-15T00:00:00Z')), highValue: '2026-02-15T00:00:00Z' }])),
      [0, 1], 'BETWEEN unix ms and RFC 3339');
    eq(dealNums(await searchDeals([{ propertyName: 'closedate', operator: 'NOT_HAS_PROPERTY' }])), [4], 'NOT_HAS_PROPERTY');
    eq(dealNums(await searchDeals([{ propertyName: 'amount', operator: 'LT', value: '150' }])), [0, 1], 'LT');
    eq(dealNums(await searchDeals([{ propertyName: 'dealstage', operator: 'EQ', value: 'closedwon' }])), [1, 3], 'EQ');
    eq(dealNums(await searchDeals([{ propertyName: 'dealstage', operator: 'IN', values: ['appointmentscheduled', 'closedlost'] }])), [0, 2, 4], 'IN');
    eq(dealNums(await searchDeals([{ propertyName: 'amount', operator: 'NEQ', value: '200' }])), [0, 1, 3, 4], 'NEQ');
    eq(dealNums(await searchDeals([{ propertyName: 'dealstage', operator: 'NOT_IN', values: ['closedwon'] }])), [0, 2, 4], 'NOT_IN');
    eq(dealNums(await searchDeals([{ propertyName: 'closedate', operator: 'HAS_PROPERTY' }])), [0, 1, 2, 3], 'HAS_PROPERTY');
    const byDate = [];
    let after;
    for (let page = 0; page < 10; page++) {
      const r = await searchDeals([], { limit: 2, after, sorts: [{ propertyName: 'closedate', direction: 'ASCENDING' }] });
      byDate.push(...r.results.map((d) => Number(d.properties.dealname.split(' ')[1])));
      if (!r.paging || !r.paging.next) break;
      after = r.paging.next.after;
    }
    eq(byDate, [0, 1, 2, 3, 4], 'pages sorted by closedate, the one without last');
    await expectApiError(searchDeals([{ propertyName: 'dealstage', operator: 'EQ', value: 'no_such_stage' }]), 400, 'a value that is no option');
    await expectApiError(searchDeals([{ propertyName: 'dealstage', operator: 'LT', value: 'closedwon' }]), 400, 'an operator the type has not');
  });

  await check('a date property (type date): a day or midnight UTC ms in, the day out, a time of day a 400, searched and sorted by day', async () => {
    const prop = propName('renews');
    const made = await client.crm.properties.coreApi.create('deals',
      { name: prop, label: 'Renews', type: 'date', fieldType: 'date', groupName: 'dealinformation' });
    eq([made.name, made.type, made.fieldType], [prop, 'date', 'date'], 'created');
    const rtag = `${run}r`;
    const input = (n, v) => ({ associations: [], properties: { dealname: `Renewal ${n} ${rtag}`, [prop]: v } });
    const created = (await client.crm.deals.batchApi.create({
      inputs: [input(0, '2027-05-03'), input(1, String(Date.UTC(2027, 4, 1))), input(2, '2027-05-02')] })).results;
    const byNum = {};
    for (const d of created) byNum[d.properties.dealname.split(' ')[1]] = d;
    eq([0, 1, 2].map((n) => byNum[n].properties[prop]), ['2027-05-03', '2027-05-01', '2027-05-02'], 'answered as the day');
    const one = byNum[1].id;
    eq((await client.crm.deals.basicApi.getById(one, [prop])).properties[prop], '2027-05-01', 'read as the day');
    const err = await expectApiError(client.crm.deals.basicApi.update(one, { properties: { [prop]: '2027-05-01T10:00:00Z' } }), 400, 'a time of day');
    assert(err.body.message.includes(prop) && err.body.message.includes('not a valid date'), `the message names the property: ${err.body.message}`);
    await expectApiError(client.crm.deals.basicApi.update(one, { properties: { [prop]: String(Date.UTC(2027, 4, 1, 10)) } }), 400, 'ms past midnight');
    eq((await client.crm.deals.basicApi.getById(one, [prop])).properties[prop], '2027-05-01', 'unchanged');
    const own = { propertyName: 'dealname', operator: 'CONTAINS_TOKEN', value: rtag };
    const days = (r) => r.results.map((d) => d.properties[prop]);
    eq(days(await client.crm.deals.searchApi.doSearch({ filterGroups: [{ filters: [own, { propertyName: prop, operator: 'GTE', value: '2027-05-02' }] }],
      sorts: [{ propertyName: prop, direction: 'DESCENDING' }], properties: [prop], limit: 10 })), ['2027-05-03', '2027-05-02'], 'GTE a day, descending');
    eq(days(await client.crm.deals.searchApi.doSearch({ filterGroups: [{ filters: [own,
      { propertyName: prop, operator: 'BETWEEN', value: String(Date.UTC(2027, 4, 1)), highValue: '2027-05-02' }] }],
    sorts: [{ propertyName: prop, direction: 'ASCENDING' }], properties: [prop], limit: 10 })), ['2027-05-01', '2027-05-02'], 'BETWEEN ms and a day, ascending');
    await expectApiError(client.crm.deals.searchApi.doSearch({ filterGroups: [{ filters: [own, { propertyName: prop, operator: 'EQ', value: '2027-05-01T10:00:00Z' }] }] }),
      400, 'a filter with a time of day');
  });

  // The raw answers, against the models the client reads them with: a field the client's model
  // requires and crmflow leaves out, or one of another type, fails here. gaps are the fields crmflow
  // cannot give, since it does not keep what they hold.
  const gaps = new Set([
    'ValueWithTimestamp.sourceType', // crmflow keeps no source of a value
    'JoinTimeAndRecordId.membershipTimestamp', // nor the time a record joined a list
    'RecordListMembership.firstAddedTimestamp',
    'RecordListMembership.lastAddedTimestamp',
  ]);
  await check('answers have the fields and types of the client\'s models', async () => {
    const bob = batch.results[0].id;
    const list = (await client.crm.lists.listsApi.create({ name: `Models ${run}`, objectTypeId: '0-1', processingType: 'MANUAL' })).list.listId;
    const deal = (await client.crm.deals.basicApi.create({ properties: { dealname: `Models ${run}` }, associations: [] })).id;
    const answers = [
      ['crm/contacts', 'SimplePublicObjectWithAssociations', 'GET', `/crm/v3/objects/contacts/${bob}?associations=companies&propertiesWithHistory=firstname`],
      ['crm/contacts', 'CollectionResponseSimplePublicObjectWithAssociationsForwardPaging', 'GET', '/crm/v3/objects/contacts?limit=2&associations=companies'],
      ['crm/contacts', 'BatchResponseSimplePublicObjectWithErrors', 'POST', '/crm/v3/objects/contacts/batch/read',
        { inputs: [{ id: bob }, { id: '999999999' }], properties: [], propertiesWithHistory: ['firstname'] }],
      ['crm/companies', 'BatchResponseSimplePublicUpsertObject', 'POST', '/crm/v3/objects/companies/batch/upsert',
        { inputs: [{ idProperty: key, id: `models-${run}`, properties: { name: 'Models' } }] }],
      ['crm/deals', 'CollectionResponseWithTotalSimplePublicObjectForwardPaging', 'POST', '/crm/v3/objects/deals/search',
        { filterGroups: [{ filters: [ownDeals] }], properties: ['dealname', 'amount'], limit: 2 }],
      ['crm/contacts', 'BatchResponseSimplePublicObject', 'POST', '/crm/v3/objects/contacts/batch/create',
        { inputs: [{ properties: { email: email('models') }, associations: [{ to: { id: company.id }, types: unlabeled(AssociationTypes.contactToCompany) }] }] }],
      ['crm/tickets', 'SimplePublicObject', 'PATCH', `/crm/v3/objects/tickets/${(await client.crm.tickets.basicApi.create({ properties: { subject: 'Models' }, associations: [] })).id}`,
        { properties: { subject: 'Models 2' } }],
      ['crm/objects', 'CollectionResponseSimplePublicObjectWithAssociationsForwardPaging', 'GET', `/crm/v3/objects/${ships}?archived=true&limit=2&properties=title`],
      ['crm/contacts', 'ModelError', 'GET', '/crm/v3/objects/contacts/999999999'],
      ['crm/contacts', 'ModelError', 'POST', '/crm/v3/objects/contacts/search', { filterGroups: [{ filters: [{ propertyName: 'nope', operator: 'EQ', value: '1' }] }] }],
      ['crm/properties', 'Property', 'GET', '/crm/v3/properties/tickets/hs_ticket_priority'],
      ['crm/properties', 'Property', 'POST', '/crm/v3/properties/companies',
        { name: propName('tier'), label: 'Tier', type: 'enumeration', fieldType: 'select', groupName: 'information', options: [{ label: 'Gold', value: 'gold', hidden: false }] }],
      ['crm/schemas', 'CollectionResponseObjectSchemaNoPaging', 'GET', '/crm-object-schemas/v3/schemas'],
      ['crm/pipelines', 'Pipeline', 'GET', '/crm/v3/pipelines/deals/default'],
      ['crm/lists', 'ListCreateResponse', 'POST', '/crm/v3/lists/', { name: `Models 2 ${run}`, objectTypeId: '0-2', processingType: 'MANUAL' }],
      ['crm/properties', 'Property', 'PATCH', `/crm/v3/properties/companies/${propName('tier')}`,
        { label: 'Tier 2', description: 'Level', options: [{ label: 'Gold', value: 'gold', hidden: false }, { label: 'Silver', value: 'silver', hidden: false }] }],
      ['crm/properties', 'CollectionResponsePropertyNoPaging', 'GET', '/crm/v3/properties/deals'],
      ['crm/properties', 'CollectionResponsePropertyNoPaging', 'GET', '/crm/v3/properties/contacts?archived=true'],
      ['crm/properties', 'Property', 'GET', `/crm/v3/properties/contacts/${propName('gone')}?archived=true`],
      ['crm/properties', 'CollectionResponsePropertyGroupNoPaging', 'GET', '/crm/v3/properties/deals/groups'],
      ['crm/schemas', 'ObjectSchema', 'GET', `/crm-object-schemas/v3/schemas/${ships}`],
      ['crm/pipelines', 'CollectionResponsePipelineNoPaging', 'GET', '/crm/v3/pipelines/tickets'],
      ['crm/pipelines', 'PipelineStage', 'GET', '/crm/v3/pipelines/deals/default/stages/closedwon'],
      ['crm/associations/v4', 'BatchResponsePublicDefaultAssociation', 'PUT', `/crm/v4/objects/deals/${deal}/associations/default/contacts/${bob}`],
      ['crm/associations/v4', 'LabelsBetweenObjectPair', 'PUT', `/crm/v4/objects/deals/${deal}/associations/companies/${company.id}`,
        [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: AssociationTypes.dealToCompany }]],
      ['crm/associations/v4', 'CollectionResponseMultiAssociatedObjectWithLabelForwardPaging', 'GET', `/crm/v4/objects/deals/${deal}/associations/contacts?limit=1`],
      ['crm/associations/v4', 'BatchResponsePublicDefaultAssociation', 'POST', '/crm/v4/associations/deals/contacts/batch/associate/default',
        { inputs: [{ from: { id: deal }, to: { id: bob } }, { from: { id: deal }, to: { id: '999999999' } }] }],
      ['crm/associations/v4', 'BatchResponseLabelsBetweenObjectPair', 'POST', '/crm/v4/associations/deals/companies/batch/create',
        { inputs: [{ from: { id: deal }, to: { id: company.id }, types: unlabeled(AssociationTypes.dealToCompany) }] }],
      ['crm/associations/v4', 'BatchResponseLabelsBetweenObjectPairWithErrors', 'POST', '/crm/v4/associations/deals/companies/batch/create',
        { inputs: [{ from: { id: '999999999' }, to: { id: company.id }, types: unlabeled(AssociationTypes.dealToCompany) }] }],
      ['crm/associations/v4', 'BatchResponsePublicAssociationMultiWithLabel', 'POST', '/crm/v4/associations/deals/contacts/batch/read', { inputs: [{ id: deal }] }],
      ['crm/associations/v4', 'BatchResponsePublicAssociationMultiWithLabelWithErrors', 'POST', '/crm/v4/associations/deals/contacts/batch/read',
        { inputs: [{ id: deal }, { id: '999999999' }] }],
      ['crm/lists', 'MembershipsUpdateResponse', 'PUT', `/crm/v3/lists/${list}/memberships/add`, [bob]],
      ['crm/lists', 'ListFetchResponse', 'GET', `/crm/v3/lists/${list}`],
      ['crm/lists', 'ListFetchResponse', 'GET', `/crm/v3/lists/object-type-id/0-1/name/${encodeURIComponent(`Models ${run}`)}`],
      ['crm/properties', 'BatchResponseProperty', 'POST', '/crm/v3/properties/deals/batch/read', { archived: false, inputs: [{ name: 'dealname' }, { name: 'dealstage' }] }],
      ['crm/properties', 'BatchResponseProperty', 'POST', '/crm/v3/properties/companies/batch/create',
        { inputs: [{ name: propName('batch_tier'), label: 'Tier', type: 'enumeration', fieldType: 'select', groupName: 'information', options: [{ label: 'Gold', value: 'gold', hidden: false }] }] }],
      ['crm/lists', 'ListsByIdResponse', 'GET', `/crm/v3/lists/?listIds=${list}`],
      ['crm/lists', 'ListSearchResponse', 'POST', '/crm/v3/lists/search', { query: `Models ${run}`, count: 1 }],
      ['crm/lists', 'ApiCollectionResponseJoinTimeAndRecordId', 'GET', `/crm/v3/lists/${list}/memberships`],
      ['crm/lists', 'ApiCollectionResponseRecordListMembershipNoPaging', 'GET', `/crm/v3/lists/records/0-1/${bob}/memberships`],
    ];
    const found = [];
    for (const [mod, type, method, path, body] of answers) {
      const res = await client.apiRequest({ method, path, body });
      const json = await res.json();
      for (const p of models.problems(mod, type, json)) {
        const gap = p.match(/\.(\w+): missing \((\w+) requires it\)$/);
        if (!gap || !gaps.has(`${gap[2]}.${gap[1]}`)) found.push(`${method} ${path} (${type}): ${p}`);
      }
    }
    assert(found.length === 0, `answers that do not fit the client's models:\n  ${found.join('\n  ')}`);
  });

  // Errors: the client throws ApiException with HubSpot's status and category.
  await check('errors: a bad token is a 401 INVALID_AUTHENTICATION, a missing permission a 403 MISSING_SCOPES, a taken email a 409 CONFLICT', async () => {
    const stranger = new Client({ accessToken: 'cft_not_a_token', basePath: base });
    const err = await expectApiError(stranger.crm.contacts.basicApi.getPage(1), 401, 'a bad token');
    eq(err.body.category, 'INVALID_AUTHENTICATION', 'category');
    const reader = new Client({ accessToken: readToken, basePath: base });
    const denied = await expectApiError(reader.crm.contacts.basicApi.create({ properties: { email: email('denied') }, associations: [] }), 403, 'a create by a reader');
    eq(denied.body.category, 'MISSING_SCOPES', 'category');
    await expectApiError(contacts.basicApi.getById(email('denied'), undefined, undefined, undefined, false, 'email'), 404, 'the refused contact');
    const deniedList = await expectApiError(reader.crm.lists.membershipsApi.add('1', [batch.results[0].id]), 403, 'a membership change by a reader');
    eq(deniedList.body.category, 'MISSING_SCOPES', 'category');
    eq((await reader.crm.contacts.basicApi.getById(batch.results[0].id)).id, batch.results[0].id, 'a read by the reader');
    const taken = await expectApiError(contacts.basicApi.create({ properties: { email: email('bob') }, associations: [] }), 409, 'a taken email');
    eq(taken.body.category, 'CONFLICT', 'category');
    const many = await expectApiError(contacts.batchApi.create({ inputs: Array.from({ length: 101 }, (_, i) => ({ properties: { email: email(`many${i}`) }, associations: [] })) }),
      400, '101 inputs');
    eq(many.body.category, 'VALIDATION_ERROR', 'category');
  });
  await check('endpoints crmflow does not implement: an ApiException with a category, never a crash', async () => {
    const cases = [
      ['merge', () => contacts.basicApi.merge({ primaryObjectId: ada.id, objectIdToMerge: batch.results[0].id }), 405, 'METHOD_NOT_ALLOWED'],
      ['a pipeline create', () => client.crm.pipelines.pipelinesApi.create('deals', { label: 'New', displayOrder: 1, stages: [] }), 405, 'METHOD_NOT_ALLOWED'],
      ['a property group create', () => client.crm.properties.groupsApi.create('contacts', { name: propName('group'), label: 'Group' }), 405, 'METHOD_NOT_ALLOWED'],
      ['owners', () => client.crm.owners.ownersApi.getPage(), 404, 'OBJECT_NOT_FOUND'],
      ['association labels', () => client.crm.associations.v4.schema.definitionsApi.getAll('contacts', 'companies'), 404, 'OBJECT_NOT_FOUND'],
      ['a list rename', () => client.crm.lists.listsApi.updateName('1', 'x'), 404, 'OBJECT_NOT_FOUND'],
    ];
    for (const [what, call, code, category] of cases) {
      const err = await expectApiError(call(), code, what);
      eq(err.body.category, category, `${what}: category`);
    }
  });

  console.log(`${passed} passed, 0 failed`);
}

main().catch((err) => {
  console.error(`FAIL (outside a check): ${describe(err)}`);
  process.exit(1);
});
