package api_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
)

// archived reads a record of tenant A from the bin through the API.
func (b *testBundle) archived(t *testing.T, o crm.ObjectType, id string) record {
	t.Helper()
	rec := expect[record](t, b.call(t, "GET", "/crm/v3/objects/"+string(o)+"/"+id+"?archived=true", tokRead, nil), http.StatusOK)
	require.True(t, rec.Archived)
	return rec
}

// requireLive checks whether a record of tenant A is live, through the API.
func (b *testBundle) requireLive(t *testing.T, o crm.ObjectType, id string, live bool) {
	t.Helper()
	r := b.call(t, "GET", "/crm/v3/objects/"+string(o)+"/"+id, tokRead, nil)
	if live {
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		return
	}
	expectError(t, r, http.StatusNotFound, "OBJECT_NOT_FOUND")
}

// logged returns the log lines whose msg contains part.
func logged(t *testing.T, logs *syncBuffer, part string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range logs.lines(t) {
		if msg, _ := l["msg"].(string); strings.Contains(msg, part) {
			out = append(out, l)
		}
	}
	return out
}

func TestArchiveObject(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("ContactGoesToTheBin", func(t *testing.T) {
		t.Parallel()
		id := string(b.contact(t, map[string]string{"email": "ada@example.com", "firstname": "Ada"}))
		r := b.call(t, "DELETE", "/crm/v3/objects/contacts/"+id, tokDelete, nil)
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		require.Empty(t, r.body)
		b.requireLive(t, crm.Contacts, id, false)
		rec := b.archived(t, crm.Contacts, id)
		require.Equal(t, "Ada", rec.Properties["firstname"])
		require.Equal(t, crm.FormatDatetime(b.clock.Now()), rec.ArchivedAt)
		require.Equal(t, "del@a.example", rec.ArchivedBy)
		require.Equal(t, "api", rec.ArchivedVia)
		require.Empty(t, rec.ArchivedRef)

		// Deleting it again (a client retrying a delete whose answer it lost): the same 204, as in
		// HubSpot, and nothing changes: the bin keeps the first deletion.
		r = b.call(t, "DELETE", "/crm/v3/objects/contacts/"+id, tokDelete, nil)
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		require.Equal(t, rec, b.archived(t, crm.Contacts, id))
		// A record neither live nor in the bin is a 404.
		e := expectError(t, b.call(t, "DELETE", "/crm/v3/objects/contacts/987654", tokDelete, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Contains(t, e.Message, "987654")
	})

	t.Run("EveryObjectType", func(t *testing.T) {
		t.Parallel()
		_, err := b.store.CreateObjectType(b.ctx, b.tenantA, crm.ObjectTypeDef{Name: "pets", Label: "Pets",
			Properties: []crm.Property{{Name: "pet_name", Label: "Name", Type: crm.TypeString}}}, "ops@x.example")
		require.NoError(t, err)
		for _, tc := range []struct {
			path string
			o    crm.ObjectType
		}{
			{"companies", crm.Companies}, {"0-3", crm.Deals}, {"tickets", crm.Tickets}, {"calls", crm.Calls}, {"pets", "pets"},
		} {
			id := string(b.create(t, b.tenantA, tc.o, nil))
			r := b.call(t, "DELETE", "/crm/v3/objects/"+tc.path+"/"+id, tokDelete, nil)
			require.Equal(t, http.StatusNoContent, r.status, "%s: %s", tc.path, r.body)
			b.requireLive(t, tc.o, id, false)
			require.Equal(t, "api", b.archived(t, tc.o, id).ArchivedVia)
		}
	})

	t.Run("AssociatedRecordsStay", func(t *testing.T) {
		t.Parallel()
		c := b.contact(t, map[string]string{"firstname": "Linked"})
		co := b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Linked Inc"})
		require.NoError(t, b.store.Associate(b.ctx, b.tenantA, crm.AssociationRef{Type: crm.Contacts, ID: c},
			crm.AssociationRef{Type: crm.Companies, ID: co}))
		r := b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(c), tokDelete, nil)
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		b.requireLive(t, crm.Companies, string(co), true) // SPEC S3
	})

	// Refusals run on a tenant of their own, which nothing else writes to while they run.
	rb := setup(t)
	rb.contact(t, map[string]string{"firstname": "Bystander"})
	before, raw := rb.snapshot(t, rb.tenantA), rb.dump(t, rb.tenantA)
	for _, tc := range []struct {
		name, path, msg string
	}{
		{"UnknownID", "/crm/v3/objects/contacts/999999", "999999"},
		{"MalformedID", "/crm/v3/objects/contacts/abc", "abc"},
		{"UnknownType", "/crm/v3/objects/spaceships/1", "spaceships"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := expectError(t, rb.call(t, "DELETE", tc.path, tokAll, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
			require.Contains(t, e.Message, tc.msg)
			require.Equal(t, before, rb.snapshot(t, rb.tenantA))
			require.Equal(t, raw, rb.dump(t, rb.tenantA))
		})
	}
}

func TestBatchArchive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := "/crm/v3/objects/contacts/batch/archive"

	t.Run("SeveralWithBulkDelete", func(t *testing.T) {
		t.Parallel()
		c1 := string(b.contact(t, map[string]string{"firstname": "One"}))
		c2 := string(b.contact(t, map[string]string{"firstname": "Two"}))
		c3 := string(b.contact(t, map[string]string{"firstname": "Three"}))
		// Ids that are not live are ignored, as in HubSpot.
		r := b.call(t, "POST", path, tokAll, map[string]any{"inputs": idInputs(c1, "999999", c2)})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		for _, id := range []string{c1, c2} {
			b.requireLive(t, crm.Contacts, id, false)
			rec := b.archived(t, crm.Contacts, id)
			require.Equal(t, "all@a.example", rec.ArchivedBy)
			require.Equal(t, "api", rec.ArchivedVia)
		}
		b.requireLive(t, crm.Contacts, c3, true)
	})

	t.Run("OneNeedsOnlyDelete", func(t *testing.T) {
		t.Parallel()
		c := string(b.contact(t, nil))
		r := b.call(t, "POST", path, tokDelete, map[string]any{"inputs": idInputs(c)})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		b.requireLive(t, crm.Contacts, c, false)
	})

	t.Run("HundredIsAccepted", func(t *testing.T) {
		t.Parallel()
		in := make([]crm.RecordInput, 100)
		for i := range in {
			in[i] = crm.RecordInput{Properties: map[string]string{"dealname": fmt.Sprintf("Deal %d", i)}}
		}
		recs, err := b.store.CreateRecords(b.ctx, b.tenantA, crm.Deals, in, crm.Actor{User: userEmail})
		require.NoError(t, err)
		ids := make([]string, len(recs))
		for i, rec := range recs {
			ids[i] = string(rec.ID)
		}
		r := b.call(t, "POST", "/crm/v3/objects/deals/batch/archive", tokAll, map[string]any{"inputs": idInputs(ids...)})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		n, err := b.store.BinSize(b.ctx, b.tenantA, crm.Deals)
		require.NoError(t, err)
		require.EqualValues(t, 100, n)
	})

	// Refusals run on a tenant of their own, which nothing else writes to while they run.
	rb := setup(t)
	c1, c2 := string(rb.contact(t, nil)), string(rb.contact(t, nil))
	before, raw := rb.snapshot(t, rb.tenantA), rb.dump(t, rb.tenantA)
	hundredAndOne := append(manyIDs(99), c1, c2)
	for _, tc := range []struct {
		name   string
		who    string
		body   any
		status int
		in     string
		msg    string
	}{
		{"TwoWithoutBulkDelete", tokDelete, map[string]any{"inputs": idInputs(c1, c2)}, http.StatusForbidden, "permission", `"bulk_delete"`},
		{"HundredAndOneIsRefused", tokAll, map[string]any{"inputs": idInputs(hundredAndOne...)}, http.StatusBadRequest, "inputs", "101"},
		{"EmptyIsRefused", tokAll, map[string]any{"inputs": []any{}}, http.StatusBadRequest, "inputs", "empty"},
		{"UnknownField", tokAll, map[string]any{"inputs": idInputs(c1), "archived": true}, http.StatusBadRequest, "archived", "unknown field"},
		{"UnknownType", tokAll, map[string]any{"inputs": idInputs(c1)}, http.StatusNotFound, "object type", "spaceships"},
		{"MalformedID", tokAll, map[string]any{"inputs": idInputs(c1, "ada@example.com")}, http.StatusBadRequest, "inputs[1].id", `"ada@example.com" is not a record id`},
		{"LeadingZero", tokAll, map[string]any{"inputs": idInputs(c1, "0"+c2)}, http.StatusBadRequest, "inputs[1].id", `"0` + c2 + `" is not a record id`},
		{"NoID", tokAll, map[string]any{"inputs": []any{map[string]any{"id": c1}, map[string]any{}}}, http.StatusBadRequest, "inputs[1].id", "missing"},
		{"EmptyID", tokAll, map[string]any{"inputs": idInputs("", c1)}, http.StatusBadRequest, "inputs[0].id", "missing"},
		{"TheSameIDTwice", tokDelete, map[string]any{"inputs": idInputs(c1, c1)}, http.StatusBadRequest, "inputs[1].id", "repeats inputs[0].id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cat, p := "VALIDATION_ERROR", path
			switch tc.status {
			case http.StatusForbidden:
				cat = "MISSING_SCOPES"
			case http.StatusNotFound:
				cat, p = "OBJECT_NOT_FOUND", "/crm/v3/objects/spaceships/batch/archive"
			}
			e := expectError(t, rb.call(t, "POST", p, tc.who, tc.body), tc.status, cat)
			require.Equal(t, []string{tc.in}, e.in())
			require.Contains(t, e.Message, tc.msg)
			require.Equal(t, before, rb.snapshot(t, rb.tenantA))
			require.Equal(t, raw, rb.dump(t, rb.tenantA))
		})
	}

	t.Run("EveryBadInputIsNamed", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, rb.call(t, "POST", path, tokAll, map[string]any{"inputs": idInputs(c1, "x1", c2, "", c1, "999999")}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"inputs[1].id", "inputs[3].id", "inputs[4].id"}, e.in())
		require.Equal(t, "INVALID_ID", e.Errors[0].Code)
		require.Equal(t, "MISSING_ID", e.Errors[1].Code)
		require.Equal(t, "DUPLICATE_ID", e.Errors[2].Code)
		require.Contains(t, e.Message, "3 inputs are invalid, nothing was deleted")
		require.Equal(t, before, rb.snapshot(t, rb.tenantA))
		require.Equal(t, raw, rb.dump(t, rb.tenantA))
	})
}

// manyIDs returns n distinct decimal ids.
func manyIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(1_000_000 + i)
	}
	return out
}

func TestBatchRestore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := "/crm/v3/objects/contacts/batch/restore"
	archive := func(t *testing.T, ids ...crm.RecordID) {
		t.Helper()
		_, err := b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Contacts, ids, crm.Actor{User: userEmail})
		require.NoError(t, err)
	}

	t.Run("AllRestored", func(t *testing.T) {
		t.Parallel()
		c1 := b.contact(t, map[string]string{"email": "back1@example.com", "firstname": "Back"})
		c2 := b.contact(t, map[string]string{"email": "back2@example.com"})
		archive(t, c1, c2)
		res := expect[batch](t, b.call(t, "POST", path, tokAll, map[string]any{"inputs": idInputs(string(c1), string(c2))}), http.StatusOK)
		require.Equal(t, "COMPLETE", res.Status)
		require.Zero(t, res.NumErrors)
		require.Empty(t, res.Errors)
		require.ElementsMatch(t, []string{string(c1), string(c2)}, ids(res.Results))
		for _, rec := range res.Results {
			require.False(t, rec.Archived)
			require.Empty(t, rec.ArchivedBy)
			if rec.ID == string(c1) {
				require.Equal(t, "Back", rec.Properties["firstname"])
			}
		}
		b.requireLive(t, crm.Contacts, string(c1), true)
		b.requireLive(t, crm.Contacts, string(c2), true)
	})

	t.Run("EmailConflictNamesTheBlockingRecord", func(t *testing.T) {
		t.Parallel()
		old := b.contact(t, map[string]string{"email": "taken@example.com", "firstname": "Old"})
		other := b.contact(t, map[string]string{"email": "free@example.com"})
		archive(t, old, other)
		blocking := b.contact(t, map[string]string{"email": "taken@example.com", "firstname": "New"})

		res := expect[batch](t, b.call(t, "POST", path, tokAll,
			map[string]any{"inputs": idInputs(string(old), string(other), "999999")}), http.StatusMultiStatus)
		require.Equal(t, "COMPLETE", res.Status)
		require.Equal(t, []string{string(other)}, ids(res.Results))
		require.Equal(t, 2, res.NumErrors)
		require.Len(t, res.Errors, 2)
		conflict, missing := res.Errors[0], res.Errors[1]
		require.Equal(t, "error", conflict.Status)
		require.Equal(t, "CONFLICT", conflict.Category)
		require.Equal(t, []string{string(old)}, conflict.Context["id"])
		require.Equal(t, []string{string(blocking)}, conflict.Context["blockingId"])
		require.Contains(t, conflict.Message, "contact "+string(blocking))
		require.Equal(t, "OBJECT_NOT_FOUND", missing.Category)
		require.Equal(t, []string{"999999"}, missing.Context["id"])

		// The refused contact is still in the bin, unchanged; the other input went through.
		rec := b.archived(t, crm.Contacts, string(old))
		require.Equal(t, "Old", rec.Properties["firstname"])
		b.requireLive(t, crm.Contacts, string(other), true)
		got, err := b.store.ContactByEmail(b.ctx, b.tenantA, "taken@example.com")
		require.NoError(t, err)
		require.Equal(t, blocking, got)
	})

	t.Run("NothingRestorable", func(t *testing.T) {
		t.Parallel()
		live := string(b.contact(t, nil))
		res := expect[batch](t, b.call(t, "POST", path, tokAll, map[string]any{"inputs": idInputs(live, "abc")}), http.StatusMultiStatus)
		require.Empty(t, res.Results)
		require.Equal(t, 1, res.NumErrors)
		require.Equal(t, "OBJECT_NOT_FOUND", res.Errors[0].Category)
		require.Equal(t, []string{live, "abc"}, res.Errors[0].Context["id"])
	})

	t.Run("HundredAndOneIsRefused", func(t *testing.T) {
		t.Parallel()
		rb := setup(t)
		c := rb.contact(t, nil)
		_, err := rb.store.ArchiveRecords(rb.ctx, rb.tenantA, crm.Contacts, []crm.RecordID{c}, crm.Actor{User: userEmail})
		require.NoError(t, err)
		before, raw := rb.snapshot(t, rb.tenantA), rb.dump(t, rb.tenantA)
		e := expectError(t, rb.call(t, "POST", path, tokAll, map[string]any{"inputs": idInputs(append(manyIDs(100), string(c))...)}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"inputs"}, e.in())
		require.Equal(t, before, rb.snapshot(t, rb.tenantA))
		require.Equal(t, raw, rb.dump(t, rb.tenantA))
	})
}

// secretContact creates a contact of tenant A full of personal data, with a company, a list and a
// call tied to it, and returns its id and properties.
func (b *testBundle) secretContact(t *testing.T) (crm.RecordID, map[string]string) {
	t.Helper()
	props := map[string]string{
		"email": "grace.hopper@navy.example", "additional_emails": "amazing.grace@cobol.example",
		"firstname": "Gracewind", "lastname": "Hopperstein", "phone": "+1-555-0199-777", "city": "Arlingtonshire",
	}
	id := b.contact(t, props)
	me := crm.AssociationRef{Type: crm.Contacts, ID: id}
	co := b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Navy"})
	call := b.create(t, b.tenantA, crm.Calls, map[string]string{"hs_call_body": "Talked to Gracewind about compilers"})
	for _, other := range []crm.AssociationRef{{Type: crm.Companies, ID: co}, {Type: crm.Calls, ID: call}} {
		require.NoError(t, b.store.Associate(b.ctx, b.tenantA, me, other))
	}
	l, err := b.store.CreateList(b.ctx, b.tenantA, "speakers", crm.Contacts)
	require.NoError(t, err)
	_, _, err = b.store.AddListMembers(b.ctx, b.tenantA, l.ID, []crm.RecordID{id})
	require.NoError(t, err)
	return id, props
}

// requireNoTrace checks that no key and no value of tenant A in Redis contains any of values
// (case-insensitively): SPEC S9 after a permanent delete.
func (b *testBundle) requireNoTrace(t *testing.T, values ...string) {
	t.Helper()
	dump := b.dump(t, b.tenantA)
	for k, v := range dump {
		for _, val := range values {
			require.NotContains(t, strings.ToLower(k), strings.ToLower(val), "key %s", k)
			require.NotContains(t, strings.ToLower(v), strings.ToLower(val), "value of %s", k)
		}
	}
}

// confirmation returns tenant A's one pending email, and checks that it is the one handed to the
// workers (Config.Tasks), addressed to the acting user.
func (b *testBundle) confirmation(t *testing.T) crm.Mail {
	t.Helper()
	stored, err := b.store.PendingMails(b.ctx, b.tenantA)
	require.NoError(t, err)
	require.Len(t, stored, 1)
	require.Equal(t, stored, b.tasks.mailsOf(b.tenantA))
	require.Equal(t, "all@a.example", stored[0].To)
	require.Equal(t, crm.MailKindPermanentDelete, stored[0].Kind)
	return stored[0]
}

func TestGDPRDelete(t *testing.T) {
	t.Parallel()
	path := "/crm/v3/objects/contacts/gdpr-delete"
	values := func(props map[string]string) []string {
		out := make([]string, 0, len(props))
		for _, v := range props {
			out = append(out, v)
		}
		return append(out, "555-0199") // the phone number as it may be written elsewhere
	}

	t.Run("ByID", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		id, props := b.secretContact(t)
		r := b.call(t, "POST", path, tokAll, map[string]any{"objectId": string(id)})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)

		b.requireNoTrace(t, values(props)...)
		b.requireLive(t, crm.Contacts, string(id), false)
		expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(id)+"?archived=true", tokRead, nil),
			http.StatusNotFound, "OBJECT_NOT_FOUND")
		// It cannot be restored.
		res := expect[batch](t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/restore", tokAll,
			map[string]any{"inputs": idInputs(string(id))}), http.StatusMultiStatus)
		require.Empty(t, res.Results)

		// The confirmation was written by the store and handed to the workers, for the acting user.
		require.Contains(t, b.confirmation(t).Body, "with id "+string(id))

		// Asked again (a client that lost the answer), it is not found, and the answer says why
		// that may be and how to keep the email blocklisted all the same.
		e := expectError(t, b.call(t, "POST", path, tokAll, map[string]any{"objectId": string(id)}), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Equal(t, []string{"record"}, e.in())
		require.Contains(t, e.Message, "erased or purged already")
		require.Contains(t, e.Message, `"idProperty": "email"`)

		// Both emails are blocklisted: creating a contact with either is refused.
		for _, email := range []string{props["email"], strings.ToUpper(props["additional_emails"])} {
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
				map[string]any{"properties": map[string]any{"email": email}}), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{"email"}, e.in())
			require.Contains(t, e.Message, "blocklisted")
		}
	})

	t.Run("FromTheBin", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		id, props := b.secretContact(t)
		r := b.call(t, "DELETE", "/crm/v3/objects/contacts/"+string(id), tokAll, nil)
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		r = b.call(t, "POST", "/crm/v3/objects/0-1/gdpr-delete", tokAll, map[string]any{"objectId": string(id)})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		b.requireNoTrace(t, values(props)...)
		expectError(t, b.call(t, "GET", "/crm/v3/objects/contacts/"+string(id)+"?archived=true", tokRead, nil),
			http.StatusNotFound, "OBJECT_NOT_FOUND")
		b.confirmation(t)
	})

	t.Run("ByEmail", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		id, props := b.secretContact(t)
		r := b.call(t, "POST", path, tokAll, map[string]any{"objectId": strings.ToUpper(props["additional_emails"]), "idProperty": "email"})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		b.requireLive(t, crm.Contacts, string(id), false)
		ok, err := b.store.IsBlocklisted(b.ctx, b.tenantA, props["email"])
		require.NoError(t, err)
		require.True(t, ok)
		// No trace anywhere, the pending confirmation included: it does not repeat the address.
		b.requireNoTrace(t, values(props)...)
		b.confirmation(t)
	})

	t.Run("UnknownEmailIsBlocklisted", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := b.call(t, "POST", path, tokAll, map[string]any{"objectId": "nobody.known@example.com", "idProperty": "email"})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		b.requireNoTrace(t, "nobody.known") // blocklisted as a salted hash only (SPEC S10)
		b.confirmation(t)
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
			map[string]any{"properties": map[string]any{"email": "Nobody.Known@example.com"}}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "blocklisted")
	})

	// An address blocklisted in one spelling is blocklisted in every other: composed or not, its
	// domain in Unicode or in ASCII.
	t.Run("OtherSpellingsAreBlocklisted", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := b.call(t, "POST", path, tokAll, map[string]any{"objectId": "jos\u00e9@b\u00fccher.example", "idProperty": "email"})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		for _, spelt := range []string{"jose\u0301@xn--bcher-kva.example", "Jos\u00c9@BU\u0308CHER.example"} {
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
				map[string]any{"properties": map[string]any{"email": spelt}}), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Contains(t, e.Message, "blocklisted", spelt)
		}
		// Likewise a live contact's address is one contact's, however it is spelt.
		r = b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{"properties": map[string]any{"email": "ada@b\u00fccher.example"}})
		require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
		expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll,
			map[string]any{"properties": map[string]any{"email": "Ada@xn--bcher-kva.example"}}), http.StatusConflict, "CONFLICT")
	})
}

// TestGDPRDeleteRefused sends permanent deletes that cannot succeed: each is answered with an error
// naming what was wrong, and not a key nor a value of the tenant changes.
func TestGDPRDeleteRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := "/crm/v3/objects/contacts/gdpr-delete"
	c := string(b.contact(t, map[string]string{"email": "bystander@example.com", "firstname": "Bystander"}))
	co := string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Acme"}))
	_, err := b.store.CreateObjectType(b.ctx, b.tenantA, crm.ObjectTypeDef{Name: "pets", Label: "Pets",
		Properties: []crm.Property{{Name: "pet_name", Label: "Name", Type: crm.TypeString}}}, "ops@x.example")
	require.NoError(t, err)
	before, raw := b.snapshot(t, b.tenantA), b.dump(t, b.tenantA)

	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
		cat    string
		in     string
		msg    string
	}{
		{"UnknownID", path, map[string]any{"objectId": "999999"}, http.StatusNotFound, "OBJECT_NOT_FOUND", "record",
			"no contact 999999, live or in the recycle bin, so nothing was erased: it was erased or purged already"},
		{"MalformedID", path, map[string]any{"objectId": "abc"}, http.StatusNotFound, "OBJECT_NOT_FOUND", "record", "no contact abc"},
		{"NoObjectID", path, map[string]any{}, http.StatusBadRequest, "VALIDATION_ERROR", "objectId", "required"},
		{"EmailWithoutIDProperty", path, map[string]any{"objectId": "bystander@example.com"}, http.StatusBadRequest,
			"VALIDATION_ERROR", "objectId", "idProperty"},
		{"OtherIDProperty", path, map[string]any{"objectId": "x", "idProperty": "phone"}, http.StatusBadRequest,
			"VALIDATION_ERROR", "idProperty", "phone"},
		{"NotAnEmail", path, map[string]any{"objectId": "not an email", "idProperty": "email"}, http.StatusBadRequest,
			"VALIDATION_ERROR", "objectId", "not an email"},
		{"Companies", "/crm/v3/objects/companies/gdpr-delete", map[string]any{"objectId": co}, http.StatusBadRequest,
			"VALIDATION_ERROR", "objectType", "contacts only"},
		{"CompaniesByHubSpotID", "/crm/v3/objects/0-2/gdpr-delete", map[string]any{"objectId": co}, http.StatusBadRequest,
			"VALIDATION_ERROR", "objectType", "contacts only"},
		{"CustomType", "/crm/v3/objects/pets/gdpr-delete", map[string]any{"objectId": "1"}, http.StatusBadRequest,
			"VALIDATION_ERROR", "objectType", "contacts only"},
		{"UnknownField", path, map[string]any{"objectId": c, "properties": []string{"email"}}, http.StatusBadRequest,
			"VALIDATION_ERROR", "properties", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := expectError(t, b.call(t, "POST", tc.path, tokAll, tc.body), tc.status, tc.cat)
			require.Equal(t, []string{tc.in}, e.in())
			require.Contains(t, e.Message, tc.msg)
			require.Equal(t, before, b.snapshot(t, b.tenantA))
			require.Equal(t, raw, b.dump(t, b.tenantA))
		})
	}
}

// TestEnqueueFailures runs the endpoints that hand work to the workers with a Tasks whose enqueue
// fails, and with no Tasks at all: the work is stored, the answer is the usual one, and a warning
// says the work waits for the worker's sweep.
func TestEnqueueFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		tasks *fakeTasks // nil: no Config.Tasks
	}{
		{"EnqueueFails", &fakeTasks{err: fmt.Errorf("queue down at 10.0.0.9")}},
		{"NoTasks", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			logs := &syncBuffer{}
			cfg := &api.Config{Clock: b.clock, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
			if tc.tasks != nil {
				cfg.Tasks = tc.tasks
			}
			b.serve(t, cfg)

			c := string(b.contact(t, map[string]string{"email": "gone@example.com", "firstname": "Gone"}))
			r := b.call(t, "POST", "/crm/v3/objects/contacts/gdpr-delete", tokAll, map[string]any{"objectId": c})
			require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
			b.requireLive(t, crm.Contacts, c, false)
			pending, err := b.store.PendingMails(b.ctx, b.tenantA)
			require.NoError(t, err)
			require.Len(t, pending, 1) // durable: the sweep will enqueue it
			warn := logged(t, logs, "confirmation email")
			require.Len(t, warn, 1)
			require.Equal(t, "WARN", warn[0]["level"])
			require.Equal(t, string(b.tenantA), warn[0]["tenant_id"])
			require.Equal(t, pending[0].ID, warn[0]["mail"].(map[string]any)["mail_id"])

			d := string(b.contact(t, map[string]string{"firstname": "Doomed"}))
			acc := expect[jobAccepted](t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll,
				map[string]any{"ids": []string{d}, "confirmCount": 1}), http.StatusAccepted)
			require.Equal(t, "PENDING", acc.Status)
			job := expect[jobStatus](t, b.call(t, "GET", acc.Links.Status, tokRead, nil), http.StatusOK)
			require.Equal(t, "PENDING", job.Status)
			warn = logged(t, logs, "bulk delete job")
			require.Len(t, warn, 1)
			require.Equal(t, "WARN", warn[0]["level"])
			require.Equal(t, acc.ID, warn[0]["job_id"])

			if tc.tasks != nil {
				require.Len(t, tc.tasks.mailsOf(b.tenantA), 1)
				require.Equal(t, []string{acc.ID}, tc.tasks.jobsOf(b.tenantA))
				require.Contains(t, logs.String(), "10.0.0.9")
			}
			require.NotContains(t, logs.String(), "gone@example.com") // log lines carry ids, never personal data
			require.Empty(t, b.tasks.mailsOf(b.tenantA))              // the bundle's default server was not used
		})
	}
}

// A permanent delete erases every call associated with the contact, one that another contact
// shares too (SPEC S9): the other contact loses its association with it. The 204 stays HubSpot's,
// without a body, and its header and the audit entry count the calls erased.
func TestGDPRDeleteErasesSharedCalls(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id, props := b.secretContact(t) // with a call of its own
	bob := b.contact(t, map[string]string{"email": "bob@example.com"})
	shared := b.create(t, b.tenantA, crm.Calls, map[string]string{"hs_call_body": "Bob and Gracewind (grace.hopper@navy.example) on the contract"})
	for _, c := range []crm.RecordID{id, bob} {
		require.NoError(t, b.store.Associate(b.ctx, b.tenantA, crm.AssociationRef{Type: crm.Contacts, ID: c}, crm.AssociationRef{Type: crm.Calls, ID: shared}))
	}

	r := b.call(t, "POST", "/crm/v3/objects/contacts/gdpr-delete", tokAll, map[string]any{"objectId": string(id)})
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	require.Empty(t, r.body)
	require.Equal(t, "2", r.header.Get(api.HeaderCallsErased))
	expectError(t, b.call(t, "GET", "/crm/v3/objects/calls/"+string(shared), tokRead, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	r = b.call(t, "GET", "/crm/v4/objects/contacts/"+string(bob)+"/associations/calls", tokRead, nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.NotContains(t, string(r.body), string(shared))
	b.requireNoTrace(t, props["email"], props["firstname"], props["lastname"], "Gracewind")

	r = b.call(t, "GET", "/crm/v3/audit?order=newest&action=permanent_delete", tokAll, nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Contains(t, string(r.body), `"callsErased":2`)

	// Twice: by id it is a 404; by email it only blocklists, and counts no call.
	expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/gdpr-delete", tokAll, map[string]any{"objectId": string(id)}),
		http.StatusNotFound, "OBJECT_NOT_FOUND")
	r = b.call(t, "POST", "/crm/v3/objects/contacts/gdpr-delete", tokAll, map[string]any{"objectId": props["email"], "idProperty": "email"})
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	require.Equal(t, "0", r.header.Get(api.HeaderCallsErased))
}
