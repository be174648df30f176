package storetest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// associationFixture is what the association tests work with: contacts, companies, and a company
// in the bin.
type associationFixture struct {
	contacts, companies []crm.AssociationRef
	binned              crm.AssociationRef
}

// associationFixture creates n contacts, n companies and a company in the bin.
func (b *bundle) associationFixture(t *testing.T, n int) associationFixture {
	t.Helper()
	var f associationFixture
	for range n {
		f.contacts = append(f.contacts, crm.AssociationRef{Type: crm.Contacts, ID: b.contact(t, map[string]string{}).ID})
	}
	in := make([]crm.RecordInput, n+1)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"name": "Co"}}
	}
	cos, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Companies, in, crm.Actor{})
	require.NoError(t, err)
	for _, c := range cos[:n] {
		f.companies = append(f.companies, crm.AssociationRef{Type: crm.Companies, ID: c.ID})
	}
	f.binned = crm.AssociationRef{Type: crm.Companies, ID: cos[n].ID}
	_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordID{f.binned.ID}, crm.Actor{User: "a@x.example"})
	require.NoError(t, err)
	return f
}

// AssociatePairs links every pair whose records are live in one step, and names the record of
// each other pair: one that does not exist, or is in the bin. A link made twice, or in both
// directions, is one link.
func testAssociatePairs(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	f := b.associationFixture(t, 3)
	c, co := f.contacts, f.companies
	missing := crm.AssociationRef{Type: crm.Companies, ID: "999999"}

	errs, err := b.store.AssociatePairs(b.ctx, b.tenant, []crm.AssociationPair{
		{From: c[0], To: co[0]},
		{From: c[0], To: missing},
		{From: c[1], To: co[0]},
		{From: f.binned, To: c[2]},
		{From: c[0], To: co[0]}, // again
		{From: co[1], To: c[0]}, // the other way
	})
	require.NoError(t, err)
	require.Len(t, errs, 6)
	for _, i := range []int{0, 2, 4, 5} {
		require.NoError(t, errs[i], "pair %d", i)
	}
	var nf *crm.NotFoundError
	require.ErrorAs(t, errs[1], &nf)
	require.Equal(t, "companies/999999", nf.ID)
	require.ErrorAs(t, errs[3], &nf)
	require.Equal(t, "companies/"+string(f.binned.ID), nf.ID)

	linked, err := b.store.ReadAssociations(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{c[0].ID, c[1].ID, c[2].ID}, crm.Companies)
	require.NoError(t, err)
	require.Equal(t, map[crm.RecordID][]crm.RecordID{
		c[0].ID: {co[0].ID, co[1].ID},
		c[1].ID: {co[0].ID},
		c[2].ID: {},
	}, linked)
	back, err := b.store.Associations(b.ctx, b.tenant, co[0], crm.Contacts)
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{c[0].ID, c[1].ID}, back)

	// A pair of a record with itself is a refusal of the whole call, before anything is linked.
	before := b.dump(t)
	_, err = b.store.AssociatePairs(b.ctx, b.tenant, []crm.AssociationPair{{From: c[2], To: co[2]}, {From: c[1], To: c[1]}})
	var ve *crm.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "SELF_ASSOCIATION", ve.Code)
	require.Equal(t, before, b.dump(t))
}

// DissociatePairs removes every pair's link, or none when a pair names a record that is not live:
// a record in the bin keeps its links for its restore.
func testDissociatePairs(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	f := b.associationFixture(t, 2)
	c, co := f.contacts, f.companies
	// The company to be binned: a second one, linked before it goes to the bin.
	cos, err := b.store.CreateRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordInput{{Properties: map[string]string{"name": "Gone"}}}, crm.Actor{})
	require.NoError(t, err)
	gone := crm.AssociationRef{Type: crm.Companies, ID: cos[0].ID}
	for _, p := range []crm.AssociationPair{{From: c[0], To: co[0]}, {From: c[0], To: co[1]}, {From: c[1], To: co[0]}, {From: c[1], To: gone}} {
		require.NoError(t, b.store.Associate(b.ctx, b.tenant, p.From, p.To))
	}
	_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordID{gone.ID}, crm.Actor{User: "a@x.example"})
	require.NoError(t, err)

	before := b.dump(t)
	errs, err := b.store.DissociatePairs(b.ctx, b.tenant, []crm.AssociationPair{
		{From: c[0], To: co[0]}, {From: c[1], To: gone}, {From: c[0], To: crm.AssociationRef{Type: crm.Companies, ID: "999999"}},
	})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], crm.ErrNotFound)
	require.ErrorIs(t, errs[2], crm.ErrNotFound)
	require.Equal(t, before, b.dump(t), "a pair naming a record that is not live removes nothing")

	errs, err = b.store.DissociatePairs(b.ctx, b.tenant, []crm.AssociationPair{
		{From: c[0], To: co[0]}, {From: co[0], To: c[1]}, {From: c[1], To: co[1]}, // the last is not linked
	})
	require.NoError(t, err)
	require.Equal(t, []error{nil, nil, nil}, errs)
	linked, err := b.store.ReadAssociations(b.ctx, b.tenant, crm.Companies, []crm.RecordID{co[0].ID, co[1].ID}, crm.Contacts)
	require.NoError(t, err)
	require.Equal(t, map[crm.RecordID][]crm.RecordID{co[0].ID: {}, co[1].ID: {c[0].ID}}, linked)

	// The company in the bin comes back with its link.
	_, err = b.store.RestoreRecords(b.ctx, b.tenant, crm.Companies, []crm.RecordID{gone.ID}, crm.Actor{})
	require.NoError(t, err)
	back, err := b.store.Associations(b.ctx, b.tenant, gone, crm.Contacts)
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{c[1].ID}, back)
}

// ReadAssociations answers the linked records of one type of each live record, ascending, and
// leaves out the records that are not live; Associations of a record that is not live is a
// *NotFoundError.
func testReadAssociations(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	f := b.associationFixture(t, 12)
	c, co := f.contacts, f.companies
	var pairs []crm.AssociationPair
	for _, x := range co {
		pairs = append(pairs, crm.AssociationPair{From: c[0], To: x})
	}
	pairs = append(pairs, crm.AssociationPair{From: c[0], To: c[1]})
	errs, err := b.store.AssociatePairs(b.ctx, b.tenant, pairs)
	require.NoError(t, err)
	require.NoError(t, errors.Join(errs...))

	before := b.dump(t)
	linked, err := b.store.ReadAssociations(b.ctx, b.tenant, crm.Contacts,
		[]crm.RecordID{c[0].ID, "999999", c[1].ID, c[2].ID}, crm.Companies)
	require.NoError(t, err)
	want := make([]crm.RecordID, len(co))
	for i, x := range co {
		want[i] = x.ID // created one after the other: ascending ids
	}
	require.Equal(t, map[crm.RecordID][]crm.RecordID{c[0].ID: want, c[1].ID: {}, c[2].ID: {}}, linked)
	contacts, err := b.store.ReadAssociations(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{c[1].ID}, crm.Contacts)
	require.NoError(t, err)
	require.Equal(t, map[crm.RecordID][]crm.RecordID{c[1].ID: {c[0].ID}}, contacts)
	require.Equal(t, before, b.dump(t), "a read changes nothing")

	_, err = b.store.ReadAssociations(b.ctx, b.tenant, "boats", []crm.RecordID{c[0].ID}, crm.Companies)
	require.ErrorIs(t, err, crm.ErrNotFound, "an object type the tenant does not have")
	_, err = b.store.Associations(b.ctx, b.tenant, f.binned, crm.Contacts)
	require.ErrorIs(t, err, crm.ErrNotFound)
}

// AssociationsOf answers, in one step, the linked records of each of several types of each live
// record, ascending, and leaves out the records and the types without any, the records that are
// not live (a record in the bin keeps its links) and a type named twice.
func testAssociationsOf(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	f := b.associationFixture(t, 12)
	c, co := f.contacts, f.companies
	binned := crm.AssociationRef{Type: crm.Contacts, ID: b.contact(t, map[string]string{}).ID}
	var pairs []crm.AssociationPair
	for _, x := range co {
		pairs = append(pairs, crm.AssociationPair{From: c[0], To: x})
	}
	pairs = append(pairs, crm.AssociationPair{From: c[0], To: c[1]}, crm.AssociationPair{From: binned, To: co[0]})
	errs, err := b.store.AssociatePairs(b.ctx, b.tenant, pairs)
	require.NoError(t, err)
	require.NoError(t, errors.Join(errs...))
	_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{binned.ID}, crm.Actor{User: "a@x.example"})
	require.NoError(t, err)

	before := b.dump(t)
	linked, err := b.store.AssociationsOf(b.ctx, b.tenant, crm.Contacts,
		[]crm.RecordID{c[0].ID, "999999", c[1].ID, c[2].ID, binned.ID},
		[]crm.ObjectType{crm.Companies, crm.Contacts, crm.Companies, crm.Deals})
	require.NoError(t, err)
	want := make([]crm.RecordID, len(co))
	for i, x := range co {
		want[i] = x.ID // created one after the other: ascending ids
	}
	require.Equal(t, map[crm.RecordID]map[crm.ObjectType][]crm.RecordID{
		c[0].ID: {crm.Companies: want, crm.Contacts: {c[1].ID}},
		c[1].ID: {crm.Contacts: {c[0].ID}},
	}, linked)
	require.Equal(t, before, b.dump(t), "a read changes nothing")

	none, err := b.store.AssociationsOf(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{c[0].ID}, nil)
	require.NoError(t, err)
	require.Empty(t, none)
}
