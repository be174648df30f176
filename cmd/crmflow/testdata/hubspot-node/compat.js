'use strict';

// Drives a crmflow server with HubSpot's official Node client (@hubspot/api-client, pinned in
// package.json), used as an integration uses it: only basePath points elsewhere. Every check is
// printed; the first failure prints what was expected and what came back, and exits 1.
//
//   CRMFLOW_URL=http://127.0.0.1:8080 CRMFLOW_TOKEN=cft_... node compat.js
//
// The token's user needs every permission (the script creates, deletes, restores and erases).

const { Client, AssociationTypes } = require('@hubspot/api-client');
const { ApiException: ContactsApiException } = require('@hubspot/api-client/lib/codegen/crm/contacts');

const base = process.env.CRMFLOW_URL;
const token = process.env.CRMFLOW_TOKEN;
if (!base || !token) {
  console.error('set CRMFLOW_URL (the server, as http://host:port) and CRMFLOW_TOKEN (a token of a user with every permission)');
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

  console.log(`${passed} passed, 0 failed`);
}

main().catch((err) => {
  console.error(`FAIL (outside a check): ${describe(err)}`);
  process.exit(1);
});
