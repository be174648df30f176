package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

func testSearchOnEveryBackend(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ada := b.contact(t, map[string]string{"email": "ada@acme.example", "firstname": "Ada", "lifecyclestage": "lead",
		"num_notes": "3", "last_activity_date": "2026-01-05", "city": "Paris"})
	bob := b.contact(t, map[string]string{"email": "bob@globex.example", "firstname": "Bob", "lifecyclestage": "customer",
		"num_notes": "7", "email_opt_out": "true"})
	cy := b.contact(t, map[string]string{"email": "cy@acme.example", "firstname": "Cy", "lifecyclestage": "lead"})
	f := func(prop string, op crm.SearchOperator, v string) crm.SearchFilter {
		return crm.SearchFilter{PropertyName: prop, Operator: op, Value: v, HasValue: v != ""}
	}
	search := func(p crm.SearchParams) []crm.RecordID {
		t.Helper()
		res, err := b.store.Search(b.ctx, b.tenant, crm.Contacts, p)
		require.NoError(t, err)
		limit := p.Limit
		if limit == 0 {
			limit = crm.DefaultSearchLimit
		}
		require.Len(t, res.Records, min(res.Total, limit))
		var out []crm.RecordID
		for _, r := range res.Records {
			out = append(out, r.ID)
		}
		return out
	}
	one := func(fs ...crm.SearchFilter) []crm.RecordID {
		return search(crm.SearchParams{FilterGroups: [][]crm.SearchFilter{fs}})
	}
	require.Equal(t, []crm.RecordID{ada.ID, bob.ID, cy.ID}, search(crm.SearchParams{}))
	require.Equal(t, []crm.RecordID{ada.ID, cy.ID}, one(f("lifecyclestage", crm.OpEQ, "lead")))
	require.Equal(t, []crm.RecordID{cy.ID, ada.ID}, search(crm.SearchParams{Sorts: []crm.SearchSort{{PropertyName: "hs_object_id", Descending: true}},
		FilterGroups: [][]crm.SearchFilter{{f("lifecyclestage", crm.OpEQ, "lead")}}}))
	require.Equal(t, []crm.RecordID{bob.ID}, one(f("num_notes", crm.OpGT, "3")))
	require.Equal(t, []crm.RecordID{bob.ID}, one(f("email_opt_out", crm.OpEQ, "true")))
	require.Equal(t, []crm.RecordID{ada.ID}, one(f("last_activity_date", crm.OpLT, "2026-01-06")))
	require.Equal(t, []crm.RecordID{ada.ID}, one(f("firstname", crm.OpEQ, "ADA")))
	require.Equal(t, []crm.RecordID{ada.ID, cy.ID}, one(f("email", crm.OpContainsToken, "*@acme.example")))
	require.Equal(t, []crm.RecordID{ada.ID}, one(f("city", crm.OpEQ, "paris"), f("num_notes", crm.OpHasProperty, "")))
	require.Equal(t, []crm.RecordID{cy.ID}, one(f("lifecyclestage", crm.OpEQ, "lead"), f("num_notes", crm.OpNotHasProperty, "")))
	require.Equal(t, []crm.RecordID{bob.ID}, one(f("lifecyclestage", crm.OpNEQ, "lead"), f("firstname", crm.OpNEQ, "ada")))
	require.Equal(t, []crm.RecordID{bob.ID, ada.ID, cy.ID}, search(crm.SearchParams{Sorts: []crm.SearchSort{{PropertyName: "num_notes", Descending: true}}}))
	require.Equal(t, []crm.RecordID{cy.ID, bob.ID}, search(crm.SearchParams{Sorts: []crm.SearchSort{{PropertyName: "firstname", Descending: true}},
		FilterGroups: [][]crm.SearchFilter{{f("firstname", crm.OpGTE, "b")}}}))
	require.Equal(t, []crm.RecordID{bob.ID}, search(crm.SearchParams{Query: "BO"}))

	// Update, archive and restore keep the indexes.
	b.clock.Advance(time.Minute)
	_, err := b.store.UpdateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: cy.ID, Properties: map[string]string{"lifecyclestage": "customer", "firstname": ""}}}, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{ada.ID}, one(f("lifecyclestage", crm.OpEQ, "lead")))
	require.Equal(t, []crm.RecordID{ada.ID, bob.ID}, one(f("firstname", crm.OpHasProperty, "")))
	// Every record has a lastmodifieddate: its index gives the order of the whole type.
	require.Equal(t, []crm.RecordID{cy.ID}, search(crm.SearchParams{Limit: 1, Sorts: []crm.SearchSort{{PropertyName: "hs_lastmodifieddate", Descending: true}}}))
	require.Equal(t, []crm.RecordID{cy.ID}, one(f("lastmodifieddate", crm.OpGT, "2026-03-01T12:00:00Z")))
	_, err = b.store.ArchiveRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{bob.ID}, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{cy.ID}, one(f("lifecyclestage", crm.OpEQ, "customer")))
	_, err = b.store.RestoreRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordID{bob.ID}, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{bob.ID, cy.ID}, one(f("lifecyclestage", crm.OpEQ, "customer")))

	// A permanent delete takes the contact out of every index.
	_, err = b.store.PermanentDeleteContact(b.ctx, b.tenant, crm.PermanentDeleteParams{ID: ada.ID, By: "ops@x.example"})
	require.NoError(t, err)
	require.Empty(t, one(f("lifecyclestage", crm.OpEQ, "lead")))
	require.Empty(t, one(f("num_notes", crm.OpEQ, "3")))
	require.Empty(t, one(f("email", crm.OpEQ, "ada@acme.example")))
}

// testSearchFindsAnEmailAsTyped: a contact created with "ÅSA@Exempel.se" is stored, unique and
// found by reads as "åsa@exempel.se": a search by the address as typed, capitals outside ASCII
// included, finds it as well, by EQ, IN and CONTAINS_TOKEN, primary or additional.
func testSearchFindsAnEmailAsTyped(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	asa := b.contact(t, map[string]string{"email": "ÅSA@Exempel.se", "additional_emails": "İNCİ@Örnek.tr"})
	b.contact(t, map[string]string{"email": "bob@example.com"})
	one := func(fs ...crm.SearchFilter) []crm.RecordID {
		t.Helper()
		res, err := b.store.Search(b.ctx, b.tenant, crm.Contacts, crm.SearchParams{FilterGroups: [][]crm.SearchFilter{fs}})
		require.NoError(t, err)
		var out []crm.RecordID
		for _, r := range res.Records {
			out = append(out, r.ID)
		}
		return out
	}
	for _, typed := range []string{"ÅSA@Exempel.se", "Åsa@exempel.se", "åsa@EXEMPEL.SE"} {
		require.Equal(t, []crm.RecordID{asa.ID}, one(crm.SearchFilter{PropertyName: "email", Operator: crm.OpEQ, Value: typed, HasValue: true}), typed)
		require.Equal(t, []crm.RecordID{asa.ID}, one(crm.SearchFilter{PropertyName: "email", Operator: crm.OpIn, Values: []string{typed, "x@example.com"}}), typed)
	}
	require.Equal(t, []crm.RecordID{asa.ID}, one(crm.SearchFilter{PropertyName: "additional_emails", Operator: crm.OpContainsToken, Value: "İNCİ@ÖRNEK.TR", HasValue: true}))
	require.Empty(t, one(crm.SearchFilter{PropertyName: "email", Operator: crm.OpNEQ, Value: "ÅSA@EXEMPEL.SE", HasValue: true},
		crm.SearchFilter{PropertyName: "email", Operator: crm.OpContainsToken, Value: "*@exempel.se", HasValue: true}))
}

// testSearchFindsNamesAsStored: text comparisons ignore ASCII case, on every backend alike, so a
// name with other letters (Åsa Östlund) is found as it is stored, with its ASCII letters in any
// case, by a filter and by query; and a permanent delete leaves none of it in the indexes.
func testSearchFindsNamesAsStored(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	asa := b.contact(t, map[string]string{"email": "asa@exempel.se", "firstname": "Åsa", "lastname": "ÖSTLUND"})
	b.contact(t, map[string]string{"email": "bob@example.com", "firstname": "Bob"})
	find := func(p crm.SearchParams) []crm.RecordID {
		t.Helper()
		res, err := b.store.Search(b.ctx, b.tenant, crm.Contacts, p)
		require.NoError(t, err)
		var out []crm.RecordID
		for _, r := range res.Records {
			out = append(out, r.ID)
		}
		return out
	}
	eq := func(prop, v string) []crm.RecordID {
		return find(crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{{PropertyName: prop, Operator: crm.OpEQ, Value: v, HasValue: true}}}})
	}
	want := []crm.RecordID{asa.ID}
	require.Equal(t, want, eq("firstname", "Åsa"))
	require.Equal(t, want, eq("firstname", "ÅSA"))
	require.Equal(t, want, eq("lastname", "ÖSTLUND"))
	require.Equal(t, want, eq("lastname", "Östlund"))
	require.Equal(t, want, find(crm.SearchParams{Query: "Åsa"}))
	require.Equal(t, want, find(crm.SearchParams{Query: "ÖST"}))

	_, err := b.store.PermanentDeleteContact(b.ctx, b.tenant, crm.PermanentDeleteParams{ID: asa.ID, By: "dpo@x.example"})
	require.NoError(t, err)
	require.Empty(t, eq("firstname", "Åsa"))
	for k, v := range b.dump(t) {
		for _, s := range []string{"Åsa", "åsa", "ÖSTLUND", "Östlund", "östlund"} {
			require.NotContains(t, k+v, s, "the erased contact's name is kept in %s", k)
		}
	}
}

// testSearchDatesOnEveryBackend checks a date property (crm.TypeDate) in the store: written as a day
// or as unix ms at midnight UTC, stored as the day, and found and sorted by its midnight UTC
// through the index the write scripts keep, on every backend's Lua alike.
func testSearchDatesOnEveryBackend(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	_, err := b.store.CreateProperty(b.ctx, b.tenant, crm.Contacts, crm.Property{Name: "renewal", Label: "Renewal", Type: crm.TypeDate}, "ops@x.example")
	require.NoError(t, err)
	ada := b.contact(t, map[string]string{"renewal": "1809129600000"}) // 2027-05-01
	bob := b.contact(t, map[string]string{"renewal": "2027-05-03"})
	cy := b.contact(t, map[string]string{"firstname": "Cy"})
	require.Equal(t, "2027-05-01", ada.Properties["renewal"])
	_, err = b.store.CreateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"renewal": "2027-05-02T09:00:00Z"}}},
		crm.Actor{User: "ops@x.example"})
	var ves crm.ValidationErrors
	require.ErrorAs(t, err, &ves)
	require.Equal(t, "INVALID_DATE", ves[0].Code)

	search := func(p crm.SearchParams) []crm.RecordID {
		t.Helper()
		res, err := b.store.Search(b.ctx, b.tenant, crm.Contacts, p)
		require.NoError(t, err)
		var out []crm.RecordID
		for _, r := range res.Records {
			out = append(out, r.ID)
		}
		return out
	}
	f := func(op crm.SearchOperator, v string) [][]crm.SearchFilter {
		return [][]crm.SearchFilter{{{PropertyName: "renewal", Operator: op, Value: v, HasValue: v != ""}}}
	}
	require.Equal(t, []crm.RecordID{ada.ID}, search(crm.SearchParams{FilterGroups: f(crm.OpEQ, "2027-05-01")}))
	require.Equal(t, []crm.RecordID{bob.ID}, search(crm.SearchParams{FilterGroups: f(crm.OpGT, "1809129600000")}))
	require.Equal(t, []crm.RecordID{ada.ID, bob.ID}, search(crm.SearchParams{FilterGroups: f(crm.OpLTE, "2027-05-03")}))
	require.Equal(t, []crm.RecordID{cy.ID}, search(crm.SearchParams{FilterGroups: f(crm.OpNotHasProperty, "")}))
	require.Equal(t, []crm.RecordID{bob.ID, ada.ID, cy.ID}, search(crm.SearchParams{Sorts: []crm.SearchSort{{PropertyName: "renewal", Descending: true}}}))
	_, err = b.store.Search(b.ctx, b.tenant, crm.Contacts, crm.SearchParams{FilterGroups: f(crm.OpGT, "2027-05-01T10:00:00Z")})
	require.ErrorAs(t, err, &ves)
	require.Contains(t, ves[0].Message, "is not a date")

	// An update moves the record in the index.
	_, err = b.store.UpdateRecords(b.ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: ada.ID, Properties: map[string]string{"renewal": "2027-05-04"}}},
		crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{bob.ID, ada.ID}, search(crm.SearchParams{FilterGroups: f(crm.OpGTE, "2027-05-02"),
		Sorts: []crm.SearchSort{{PropertyName: "renewal"}}}))
}
