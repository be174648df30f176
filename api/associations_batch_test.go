package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// defaultAssociated is one result of batch/associate/default (HubSpot's PublicDefaultAssociation).
type defaultAssociated struct {
	From            struct{ ID string } `json:"from"`
	To              struct{ ID string } `json:"to"`
	AssociationSpec *struct {
		AssociationCategory string `json:"associationCategory"`
		AssociationTypeID   int    `json:"associationTypeId"`
	} `json:"associationSpec"`
}

// labelsBetween is one result of batch/create (HubSpot's LabelsBetweenObjectPair).
type labelsBetween struct {
	FromObjectTypeID string   `json:"fromObjectTypeId"`
	FromObjectID     string   `json:"fromObjectId"`
	ToObjectTypeID   string   `json:"toObjectTypeId"`
	ToObjectID       string   `json:"toObjectId"`
	Labels           []string `json:"labels"`
}

// associationsOf is one result of batch/read (HubSpot's PublicAssociationMultiWithLabel).
type associationsOf struct {
	From struct{ ID string } `json:"from"`
	To   []struct {
		ToObjectID       string `json:"toObjectId"`
		AssociationTypes []struct {
			Category string  `json:"category"`
			TypeID   int     `json:"typeId"`
			Label    *string `json:"label"`
		} `json:"associationTypes"`
	} `json:"to"`
	Paging *struct {
		Next struct {
			After string `json:"after"`
			Link  string `json:"link"`
		} `json:"next"`
	} `json:"paging"`
}

// pairIn is an input naming two records: {"from": {"id": from}, "to": {"id": to}}, with types when
// some are given.
func pairIn(from, to string, types ...int) map[string]any {
	in := map[string]any{"from": map[string]any{"id": from}, "to": map[string]any{"id": to}}
	if len(types) > 0 {
		var ts []any
		for _, id := range types {
			ts = append(ts, map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": id})
		}
		in["types"] = ts
	}
	return in
}

// inputs is a batch body of ins.
func inputs(ins ...any) map[string]any { return map[string]any{"inputs": ins} }

// linked returns the ids of the records of type to linked to record id of type from, as the single
// GET reads them.
func (b *testBundle) linked(t *testing.T, from, id, to string) []string {
	t.Helper()
	pg := expect[page[struct {
		ToObjectID string `json:"toObjectId"`
	}]](t, b.call(t, "GET", "/crm/v4/objects/"+from+"/"+id+"/associations/"+to, tokRead, nil), http.StatusOK)
	ids := []string{}
	for _, r := range pg.Results {
		ids = append(ids, r.ToObjectID)
	}
	return ids
}

// assocFixture is tenant A's records of the batch association tests: contacts, companies, and a
// company in the bin.
type assocFixture struct {
	c, co  []string
	binned string
}

func (b *testBundle) assocFixture(t *testing.T, n int) assocFixture {
	t.Helper()
	var f assocFixture
	for i := range n {
		f.c = append(f.c, string(b.contact(t, map[string]string{"email": fmt.Sprintf("c%d@a.example", i)})))
		f.co = append(f.co, string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": fmt.Sprintf("Co %d", i)})))
	}
	f.binned = string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Binned"}))
	_, err := b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Companies, []crm.RecordID{crm.RecordID(f.binned)}, crm.Actor{User: userEmail})
	require.NoError(t, err)
	return f
}

// assocSetup is a fresh bundle with an assocFixture of n contacts and companies in tenant A.
func assocSetup(t *testing.T, n int) (*testBundle, assocFixture) {
	t.Helper()
	b := setup(t)
	return b, b.assocFixture(t, n)
}

// tooMany is a batch of n inputs, each made by in(i).
func tooMany(n int, in func(i int) any) map[string]any {
	out := make([]any, n)
	for i := range out {
		out[i] = in(i)
	}
	return map[string]any{"inputs": out}
}

// POST /crm/v4/associations/{from}/{to}/batch/associate/default links every input's pair in one
// step, answers HubSpot's BatchResponsePublicDefaultAssociation (200), names in errors each input
// whose record does not exist or is in the bin while linking the others, refuses bad inputs with
// a 400 naming each, needs write, and sees nothing of another tenant.
func TestBatchAssociateDefault(t *testing.T) {
	t.Parallel()
	path := "/crm/v4/associations/contacts/companies/batch/associate/default"

	t.Run("Links", func(t *testing.T) {
		t.Parallel()
		b, f := assocSetup(t, 4)
		c, co := f.c, f.co
		r := b.call(t, "POST", path, tokWrite, inputs(pairIn(c[0], co[0]), pairIn(c[1], co[0])))
		require.JSONEq(t, `{"status": "COMPLETE", "startedAt": "2026-03-01T12:00:00.000Z", "completedAt": "2026-03-01T12:00:00.000Z",
			"results": [
				{"from": {"id": "`+c[0]+`"}, "to": {"id": "`+co[0]+`"}, "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}},
				{"from": {"id": "`+c[1]+`"}, "to": {"id": "`+co[0]+`"}, "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}}]}`,
			string(r.body))
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, []string{c[0], c[1]}, b.linked(t, "companies", co[0], "contacts"))
		require.Equal(t, []string{co[0]}, b.linked(t, "contacts", c[0], "companies"))
		// HubSpot's type ids name the types too; the other way round, the spec is company to contact.
		res := expect[batchOf[defaultAssociated]](t, b.call(t, "POST", "/crm/v4/associations/0-2/0-1/batch/associate/default", tokWrite,
			inputs(pairIn(co[1], c[0]))), http.StatusOK)
		require.Equal(t, 280, res.Results[0].AssociationSpec.AssociationTypeID)
		require.Equal(t, []string{co[0], co[1]}, b.linked(t, "contacts", c[0], "companies"))
	})

	t.Run("MissingOrBinnedRecordsAreNamed", func(t *testing.T) {
		t.Parallel()
		b, f := assocSetup(t, 4)
		c, co := f.c, f.co
		res := expect[batchOf[defaultAssociated]](t, b.call(t, "POST", path, tokWrite,
			inputs(pairIn(c[2], "999999"), pairIn(c[2], co[2]), pairIn(c[2], f.binned), pairIn("888888", co[2]))), http.StatusOK)
		require.Len(t, res.Results, 1)
		require.Equal(t, co[2], res.Results[0].To.ID)
		require.Equal(t, 3, res.NumErrors)
		require.Equal(t, []string{"inputs[0].to.id", "inputs[2].to.id", "inputs[3].from.id"}, res.failedInputs())
		for _, e := range res.Errors {
			require.Equal(t, "OBJECT_NOT_FOUND", e.Category)
			require.Equal(t, []any{}, e.Errors, "HubSpot's StandardError")
		}
		require.Equal(t, "inputs[2].to.id: companies "+f.binned+" does not exist or is in the recycle bin", res.Errors[1].Message)
		require.Equal(t, []string{co[2]}, b.linked(t, "contacts", c[2], "companies"), "the other inputs are linked")
		// The company in the bin comes back without a link it never had.
		_, err := b.store.RestoreRecords(b.ctx, b.tenantA, crm.Companies, []crm.RecordID{crm.RecordID(f.binned)}, crm.Actor{User: userEmail})
		require.NoError(t, err)
		require.Empty(t, b.linked(t, "companies", f.binned, "contacts"))
	})

	t.Run("BadInputsChangeNothing", func(t *testing.T) {
		t.Parallel()
		b, f := assocSetup(t, 4)
		c, co := f.c, f.co
		before := b.dump(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", path, tokWrite, inputs(
			pairIn(c[3], co[3]),
			map[string]any{"to": map[string]any{"id": co[3]}},
			pairIn(c[3], "abc"),
			pairIn("007", co[3]),
			map[string]any{"from": map[string]any{"id": c[3]}, "to": map[string]any{}},
		)), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"inputs[1].from.id", "inputs[2].to.id", "inputs[3].from.id", "inputs[4].to.id"}, e.in())
		require.Equal(t, `inputs have 4 problems, nothing was associated: inputs[1].from.id is missing: give the id of the contacts record, as {"id": "123"} (and 3 more in errors)`, e.Message)
		require.Equal(t, `inputs[2].to.id "abc" is not a record id: ids are whole numbers without leading zeros or spaces, as the API returns them`, e.Errors[1].Message)

		self := expectError(t, b.call(t, "POST", "/crm/v4/associations/contacts/contacts/batch/associate/default", tokWrite,
			inputs(pairIn(c[3], c[3]))), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, "SELF_ASSOCIATION", self.Errors[0].Code)
		require.Equal(t, "inputs[0].to.id names contacts "+c[3]+", the record of inputs[0].from.id: a record cannot be associated with itself: nothing was associated", self.Message)

		many := expectError(t, b.call(t, "POST", path, tokWrite, tooMany(2001, func(int) any { return pairIn(c[3], co[3]) })),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, "TOO_MANY_INPUTS", many.Errors[0].Code)
		require.Contains(t, many.Message, "over the limit of 2000 per batch request")
		expectError(t, b.call(t, "POST", path, tokWrite, inputs()), http.StatusBadRequest, "VALIDATION_ERROR")
		unknown := expectError(t, b.call(t, "POST", path, tokWrite, inputs(pairIn(c[3], co[3], 279))), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, "UNKNOWN_FIELD", unknown.Errors[0].Code, "associate/default takes no types: batch/create does")
		expectError(t, b.call(t, "POST", "/crm/v4/associations/contacts/boats/batch/associate/default", tokWrite,
			inputs(pairIn(c[3], co[3]))), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Equal(t, before, b.dump(t, b.tenantA))
	})

	t.Run("NeedsWrite", func(t *testing.T) {
		t.Parallel()
		b, f := assocSetup(t, 4)
		c, co := f.c, f.co
		before := b.dump(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", path, tokRead, inputs(pairIn(c[3], co[3]))), http.StatusForbidden, "MISSING_SCOPES")
		require.Equal(t, []string{"write"}, e.Context["requiredScopes"])
		require.Equal(t, before, b.dump(t, b.tenantA))
	})

	t.Run("OtherTenant", func(t *testing.T) {
		t.Parallel()
		b, f := assocSetup(t, 4)
		c, co := f.c, f.co
		before := b.dump(t, b.tenantA)
		res := expect[batchOf[defaultAssociated]](t, b.call(t, "POST", path, tokBAll, inputs(pairIn(c[3], co[3]))), http.StatusOK)
		require.Empty(t, res.Results)
		require.Equal(t, []string{"inputs[0].from.id"}, res.failedInputs(), "tenant A's records are missing records to tenant B")
		require.Equal(t, before, b.dump(t, b.tenantA))
	})
}

// POST .../batch/create links pairs of HubSpot's default association types (201), names each
// input that was not linked (207), refuses labels, other type ids and missing types with a 400
// naming each input, and needs write.
func TestBatchCreateAssociations(t *testing.T) {
	t.Parallel()
	path := "/crm/v4/associations/contacts/companies/batch/create"

	t.Run("Links", func(t *testing.T) {
		t.Parallel()
		b, f := assocSetup(t, 4)
		c, co := f.c, f.co
		r := b.call(t, "POST", path, tokWrite, inputs(pairIn(c[0], co[0], 279), pairIn(c[0], co[1], 1), pairIn(c[1], co[0], 279, 1)))
		require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
		res := decode[batchOf[labelsBetween]](t, r)
		require.Equal(t, "COMPLETE", res.Status)
		require.Equal(t, []labelsBetween{
			{FromObjectTypeID: "0-1", FromObjectID: c[0], ToObjectTypeID: "0-2", ToObjectID: co[0], Labels: []string{}},
			{FromObjectTypeID: "0-1", FromObjectID: c[0], ToObjectTypeID: "0-2", ToObjectID: co[1], Labels: []string{}},
			{FromObjectTypeID: "0-1", FromObjectID: c[1], ToObjectTypeID: "0-2", ToObjectID: co[0], Labels: []string{}},
		}, res.Results)
		require.Zero(t, res.NumErrors)
		require.Equal(t, []string{co[0], co[1]}, b.linked(t, "contacts", c[0], "companies"))
		require.Equal(t, []string{c[0], c[1]}, b.linked(t, "companies", co[0], "contacts"))
	})

	t.Run("MissingOrBinnedRecordsAre207", func(t *testing.T) {
		t.Parallel()
		b, f := assocSetup(t, 4)
		c, co := f.c, f.co
		res := expect[batchOf[labelsBetween]](t, b.call(t, "POST", path, tokWrite,
			inputs(pairIn(c[2], f.binned, 279), pairIn(c[2], co[2], 279), pairIn("999999", co[2], 279))), http.StatusMultiStatus)
		require.Len(t, res.Results, 1)
		require.Equal(t, co[2], res.Results[0].ToObjectID)
		require.Equal(t, 2, res.NumErrors)
		require.Equal(t, []string{"inputs[0].to.id", "inputs[2].from.id"}, res.failedInputs())
		require.Equal(t, []string{"999999"}, res.Errors[1].Context["ids"])
		require.Equal(t, []string{co[2]}, b.linked(t, "contacts", c[2], "companies"))
	})

	t.Run("LabelsAndOtherTypesAre400", func(t *testing.T) {
		t.Parallel()
		b, f := assocSetup(t, 4)
		c, co := f.c, f.co
		before := b.dump(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", path, tokWrite, inputs(
			pairIn(c[3], co[3], 279),
			map[string]any{"from": map[string]any{"id": c[3]}, "to": map[string]any{"id": co[3]},
				"types": []any{map[string]any{"associationCategory": "USER_DEFINED", "associationTypeId": 36}}},
			pairIn(c[3], co[3], 4), // contact to deal
			pairIn(c[3], co[3]),
		)), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"inputs[1].types", "inputs[2].types", "inputs[3].types"}, e.in())
		require.Equal(t, `inputs[1].types[0].associationCategory "USER_DEFINED" is not supported: crmflow keeps no association labels; `+
			`send [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1 or 279}]`, e.Errors[0].Message)
		require.Equal(t, "INVALID_ASSOCIATION_TYPE", e.Errors[1].Code)
		require.Contains(t, e.Errors[2].Message, "names no association type")

		// Between a custom type and another, there is no type id: batch/associate/default links them.
		expect[schema](t, b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{"name": "boats", "label": "Boat"}), http.StatusCreated)
		before = b.dump(t, b.tenantA)
		e = expectError(t, b.call(t, "POST", "/crm/v4/associations/boats/contacts/batch/create", tokWrite,
			inputs(pairIn("1", c[3], 279))), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, "there is no association type from boats to contacts in crmflow: link their records with POST "+
			"/crm/v4/associations/boats/contacts/batch/associate/default", e.Message)
		require.Equal(t, before, b.dump(t, b.tenantA))
	})

	t.Run("NeedsWrite", func(t *testing.T) {
		t.Parallel()
		b, f := assocSetup(t, 4)
		c, co := f.c, f.co
		expectError(t, b.call(t, "POST", path, tokRead, inputs(pairIn(c[3], co[3], 279))), http.StatusForbidden, "MISSING_SCOPES")
		require.Empty(t, b.linked(t, "contacts", c[3], "companies"))
	})

	t.Run("OtherTenant", func(t *testing.T) {
		t.Parallel()
		b, f := assocSetup(t, 4)
		c, co := f.c, f.co
		before := b.dump(t, b.tenantA)
		res := expect[batchOf[labelsBetween]](t, b.call(t, "POST", path, tokBAll, inputs(pairIn(c[3], co[3], 279))), http.StatusMultiStatus)
		require.Empty(t, res.Results)
		require.Equal(t, before, b.dump(t, b.tenantA))
	})
}

// POST .../batch/read answers, for each input, its linked records by ascending id with their
// default association type, at most 500 an input with paging per input; names each input whose
// record does not exist or is in the bin (207); refuses bad ids and afters with a 400 naming each,
// and more than 1,000 inputs; needs read; and sees nothing of another tenant.
func TestBatchReadAssociations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.assocFixture(t, 3)
	c, co := f.c, f.co
	path := "/crm/v4/associations/contacts/companies/batch/read"
	// c[0] is linked to 501 companies: co[0..2] and 498 more.
	in := make([]crm.RecordInput, 498)
	for i := range in {
		in[i] = crm.RecordInput{Properties: map[string]string{"name": "More"}}
	}
	more, err := b.store.CreateRecords(b.ctx, b.tenantA, crm.Companies, in, crm.Actor{User: userEmail})
	require.NoError(t, err)
	all := append([]string{}, co...)
	for _, m := range more {
		all = append(all, string(m.ID))
	}
	var pairs []crm.AssociationPair
	for _, id := range all {
		pairs = append(pairs, crm.AssociationPair{From: crm.AssociationRef{Type: crm.Contacts, ID: crm.RecordID(c[0])},
			To: crm.AssociationRef{Type: crm.Companies, ID: crm.RecordID(id)}})
	}
	pairs = append(pairs, crm.AssociationPair{From: crm.AssociationRef{Type: crm.Contacts, ID: crm.RecordID(c[1])},
		To: crm.AssociationRef{Type: crm.Companies, ID: crm.RecordID(co[1])}})
	errs, err := b.store.AssociatePairs(b.ctx, b.tenantA, pairs)
	require.NoError(t, err)
	for _, e := range errs {
		require.NoError(t, e)
	}
	// A contact in the bin.
	gone := string(b.contact(t, map[string]string{"email": "gone@a.example"}))
	_, err = b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Contacts, []crm.RecordID{crm.RecordID(gone)}, crm.Actor{User: userEmail})
	require.NoError(t, err)

	t.Run("Reads", func(t *testing.T) {
		t.Parallel()
		before := b.dump(t, b.tenantA)
		r := b.call(t, "POST", path, tokRead, inputs(map[string]any{"id": c[1]}, map[string]any{"id": c[2]}))
		require.JSONEq(t, `{"status": "COMPLETE", "startedAt": "2026-03-01T12:00:00.000Z", "completedAt": "2026-03-01T12:00:00.000Z",
			"results": [
				{"from": {"id": "`+c[1]+`"}, "to": [{"toObjectId": "`+co[1]+`", "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 279, "label": null}]}]},
				{"from": {"id": "`+c[2]+`"}, "to": []}]}`, string(r.body))
		require.Equal(t, http.StatusOK, r.status)
		// From the companies, by HubSpot's type ids: company to contact.
		res := expect[batchOf[associationsOf]](t, b.call(t, "POST", "/crm/v4/associations/0-2/0-1/batch/read", tokRead,
			inputs(map[string]any{"id": co[1]})), http.StatusOK)
		require.Equal(t, 280, res.Results[0].To[0].AssociationTypes[0].TypeID)
		require.Equal(t, before, b.dump(t, b.tenantA), "a read changes nothing")
	})

	t.Run("PagesPerInput", func(t *testing.T) {
		t.Parallel()
		res := expect[batchOf[associationsOf]](t, b.call(t, "POST", path, tokRead,
			inputs(map[string]any{"id": c[0]}, map[string]any{"id": c[1]})), http.StatusOK)
		require.Len(t, res.Results, 2)
		first := res.Results[0]
		require.Len(t, first.To, 500)
		require.NotNil(t, first.Paging)
		require.Equal(t, all[499], first.Paging.Next.After)
		require.Equal(t, "/crm/v4/objects/contacts/"+c[0]+"/associations/companies?after="+all[499]+"&limit=500", first.Paging.Next.Link)
		require.Nil(t, res.Results[1].Paging, "an input of one page has no paging")
		var got []string
		for _, x := range first.To {
			got = append(got, x.ToObjectID)
		}
		next := expect[batchOf[associationsOf]](t, b.call(t, "POST", path, tokRead,
			inputs(map[string]any{"id": c[0], "after": first.Paging.Next.After})), http.StatusOK)
		require.Nil(t, next.Results[0].Paging)
		for _, x := range next.Results[0].To {
			got = append(got, x.ToObjectID)
		}
		require.Equal(t, all, got, "every linked company once, by ascending id")
	})

	t.Run("MissingOrBinnedRecordsAre207", func(t *testing.T) {
		t.Parallel()
		res := expect[batchOf[associationsOf]](t, b.call(t, "POST", path, tokRead,
			inputs(map[string]any{"id": gone}, map[string]any{"id": c[1]}, map[string]any{"id": "999999"})), http.StatusMultiStatus)
		require.Len(t, res.Results, 1)
		require.Equal(t, c[1], res.Results[0].From.ID)
		require.Equal(t, 2, res.NumErrors)
		require.Equal(t, []string{"inputs[0].id", "inputs[2].id"}, res.failedInputs())
		require.Equal(t, "inputs[0].id: contacts "+gone+" does not exist or is in the recycle bin", res.Errors[0].Message)
		require.Equal(t, "OBJECT_NOT_FOUND", res.Errors[1].Category)
	})

	t.Run("BadInputs", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", path, tokRead, inputs(map[string]any{"id": c[1]}, map[string]any{},
			map[string]any{"id": "x1"}, map[string]any{"id": c[1], "after": "next"})), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"inputs[1].id", "inputs[2].id", "inputs[3].after"}, e.in())
		many := expectError(t, b.call(t, "POST", path, tokRead, tooMany(1001, func(int) any { return map[string]any{"id": c[1]} })),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, many.Message, "over the limit of 1000 per batch request")
		expect[batchOf[associationsOf]](t, b.call(t, "POST", path, tokRead, tooMany(1000, func(int) any { return map[string]any{"id": c[1]} })),
			http.StatusOK)
	})

	t.Run("NeedsRead", func(t *testing.T) {
		t.Parallel()
		e := expectError(t, b.call(t, "POST", path, tokNone, inputs(map[string]any{"id": c[1]})), http.StatusForbidden, "MISSING_SCOPES")
		require.Equal(t, []string{"read"}, e.Context["requiredScopes"])
	})

	t.Run("OtherTenant", func(t *testing.T) {
		t.Parallel()
		res := expect[batchOf[associationsOf]](t, b.call(t, "POST", path, tokBAll, inputs(map[string]any{"id": c[1]})), http.StatusMultiStatus)
		require.Empty(t, res.Results)
		require.Equal(t, []string{c[1]}, res.Errors[0].Context["ids"])
	})
}

// A batch read looks at every association of its records in one step of Redis: past the store's
// budget of associations, it is a 400 saying to read fewer records at a time, and reads nothing.
func TestBatchReadAssociationsBudget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, MaxAssociations: 3, AssociationReadBudget: 4})
	require.NoError(t, err)
	b.store = st
	b.serve(t, &api.Config{Clock: b.clock})
	f := b.assocFixture(t, 3)
	for _, c := range f.c {
		for _, co := range f.co[:2] {
			require.NoError(t, b.store.Associate(b.ctx, b.tenantA, crm.AssociationRef{Type: crm.Contacts, ID: crm.RecordID(c)},
				crm.AssociationRef{Type: crm.Companies, ID: crm.RecordID(co)}))
		}
	}
	path := "/crm/v4/associations/contacts/companies/batch/read"
	expect[batchOf[associationsOf]](t, b.call(t, "POST", path, tokRead, inputs(map[string]any{"id": f.c[0]}, map[string]any{"id": f.c[1]})), http.StatusOK)
	e := expectError(t, b.call(t, "POST", path, tokRead, inputs(map[string]any{"id": f.c[0]}, map[string]any{"id": f.c[1]}, map[string]any{"id": f.c[2]})),
		http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, "TOO_MANY_ASSOCIATIONS_READ", e.Errors[0].Code)
	require.Equal(t, "the 3 contacts records read have 6 associations in all, more than the 4 one read may look at: read fewer records at a time", e.Message)
	// One record is always readable: the budget is at least the most associations a record may have.
	require.Len(t, b.linked(t, "companies", f.co[0], "contacts"), 3)
}

// Within a batch, a record that reaches the most associations a record may have refuses the
// inputs after it that would add to it, and those alone: each is named in errors.
func TestBatchAssociateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st, err := redisstore.New(b.rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: b.clock, MaxAssociations: 2})
	require.NoError(t, err)
	b.store = st
	b.serve(t, &api.Config{Clock: b.clock})
	f := b.assocFixture(t, 3)
	res := expect[batchOf[labelsBetween]](t, b.call(t, "POST", "/crm/v4/associations/companies/contacts/batch/create", tokAll,
		inputs(pairIn(f.co[0], f.c[0], 280), pairIn(f.co[0], f.c[1], 280), pairIn(f.co[0], f.c[2], 280), pairIn(f.co[1], f.c[2], 280))),
		http.StatusMultiStatus)
	require.Len(t, res.Results, 3)
	require.Equal(t, []string{"inputs[2].from.id"}, res.failedInputs())
	require.Equal(t, "VALIDATION_ERROR", res.Errors[0].Category)
	require.Equal(t, []string{"TOO_MANY_ASSOCIATIONS"}, res.Errors[0].Context["code"])
	require.Equal(t, "inputs[2].from.id: companies "+f.co[0]+" has 2 associations, the most a record may have: remove some before adding another "+
		"(this input was not associated)", res.Errors[0].Message)
	require.Equal(t, []string{f.c[0], f.c[1]}, b.linked(t, "companies", f.co[0], "contacts"))
	require.Equal(t, []string{f.co[1]}, b.linked(t, "contacts", f.c[2], "companies"))
}

// POST .../batch/archive removes every pair's association in one step (204); a pair naming a
// record that does not exist or is in the bin is a 404 naming each such input, and removes
// nothing (a record in the bin keeps its links for its restore); bad inputs are a 400 naming each;
// it needs write, and another tenant's records are missing ones.
func TestBatchArchiveAssociations(t *testing.T) {
	t.Parallel()
	path := "/crm/v4/associations/contacts/companies/batch/archive"
	link := func(t *testing.T, b *testBundle, from, to string) {
		t.Helper()
		require.NoError(t, b.store.Associate(b.ctx, b.tenantA, crm.AssociationRef{Type: crm.Contacts, ID: crm.RecordID(from)},
			crm.AssociationRef{Type: crm.Companies, ID: crm.RecordID(to)}))
	}
	archiveIn := func(from string, to ...string) map[string]any {
		var ts []any
		for _, id := range to {
			ts = append(ts, map[string]any{"id": id})
		}
		return map[string]any{"from": map[string]any{"id": from}, "to": ts}
	}

	t.Run("Removes", func(t *testing.T) {
		t.Parallel()
		b, f := assocSetup(t, 4)
		c, co := f.c, f.co
		link(t, b, c[0], co[0])
		link(t, b, c[0], co[1])
		link(t, b, c[1], co[0])
		r := b.call(t, "POST", path, tokWrite, inputs(archiveIn(c[0], co[0], co[1]), archiveIn(c[1], co[2])))
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		require.Empty(t, r.body)
		require.Empty(t, b.linked(t, "contacts", c[0], "companies"))
		require.Equal(t, []string{c[1]}, b.linked(t, "companies", co[0], "contacts"), "a pair not linked is no error")
	})

	t.Run("BinnedOrMissingRecordsRemoveNothing", func(t *testing.T) {
		t.Parallel()
		b, f := assocSetup(t, 4)
		c, co := f.c, f.co
		gone := string(b.create(t, b.tenantA, crm.Companies, map[string]string{"name": "Gone"}))
		link(t, b, c[2], co[2])
		link(t, b, c[2], gone)
		_, err := b.store.ArchiveRecords(b.ctx, b.tenantA, crm.Companies, []crm.RecordID{crm.RecordID(gone)}, crm.Actor{User: userEmail})
		require.NoError(t, err)
		before := b.dump(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", path, tokWrite, inputs(archiveIn(c[2], co[2]), archiveIn(c[2], "999999", gone))),
			http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Equal(t, []string{"inputs[1].to[0].id", "inputs[1].to[1].id"}, e.in())
		require.Equal(t, "2 inputs name records that do not exist or are in the recycle bin: inputs[1].to[0].id: companies 999999 does not exist "+
			"or is in the recycle bin (and 1 more in errors); nothing was dissociated", e.Message)
		require.Equal(t, before, b.dump(t, b.tenantA))
		// The company comes back from the bin with its link.
		_, err = b.store.RestoreRecords(b.ctx, b.tenantA, crm.Companies, []crm.RecordID{crm.RecordID(gone)}, crm.Actor{User: userEmail})
		require.NoError(t, err)
		require.Equal(t, []string{c[2]}, b.linked(t, "companies", gone, "contacts"))
	})

	t.Run("BadInputsChangeNothing", func(t *testing.T) {
		t.Parallel()
		b, f := assocSetup(t, 4)
		c, co := f.c, f.co
		link(t, b, c[3], co[3])
		before := b.dump(t, b.tenantA)
		e := expectError(t, b.call(t, "POST", path, tokWrite, inputs(
			archiveIn(c[3], co[3]),
			map[string]any{"from": map[string]any{"id": c[3]}, "to": []any{}},
			archiveIn("", co[3]),
			archiveIn(c[3], co[3], "1.5"),
		)), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"inputs[1].to", "inputs[2].from.id", "inputs[3].to[1].id"}, e.in())
		many := expectError(t, b.call(t, "POST", path, tokWrite, tooMany(2, func(int) any {
			ids := make([]string, 1001)
			for i := range ids {
				ids[i] = co[3]
			}
			return archiveIn(c[3], ids...)
		})), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, `inputs name 2002 records in their "to", over the limit of 2000 pairs per batch request: split them into batches of at most 2000`, many.Message)
		self := expectError(t, b.call(t, "POST", "/crm/v4/associations/contacts/contacts/batch/archive", tokWrite,
			inputs(archiveIn(c[3], c[3]))), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"inputs[0].to[0].id"}, self.in())
		require.Equal(t, before, b.dump(t, b.tenantA))

		expectError(t, b.call(t, "POST", path, tokRead, inputs(archiveIn(c[3], co[3]))), http.StatusForbidden, "MISSING_SCOPES")
		expectError(t, b.call(t, "POST", path, tokBAll, inputs(archiveIn(c[3], co[3]))), http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Equal(t, before, b.dump(t, b.tenantA), "refused: no permission, another tenant")
	})
}

// POST .../batch/labels/archive: crmflow keeps no labels. Removing the unlabeled default type
// removes the association, as HubSpot does; removing the primary type alone leaves it (crmflow
// keeps no primary flag); a label is a 400 naming the input.
func TestBatchArchiveAssociationLabels(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.assocFixture(t, 2)
	c, co := f.c, f.co
	for _, x := range co {
		require.NoError(t, b.store.Associate(b.ctx, b.tenantA, crm.AssociationRef{Type: crm.Contacts, ID: crm.RecordID(c[0])},
			crm.AssociationRef{Type: crm.Companies, ID: crm.RecordID(x)}))
	}
	path := "/crm/v4/associations/contacts/companies/batch/labels/archive"
	before := b.dump(t, b.tenantA)
	e := expectError(t, b.call(t, "POST", path, tokWrite, inputs(pairIn(c[0], co[0], 279),
		map[string]any{"from": map[string]any{"id": c[0]}, "to": map[string]any{"id": co[1]},
			"types": []any{map[string]any{"associationCategory": "USER_DEFINED", "associationTypeId": 36}}})),
		http.StatusBadRequest, "VALIDATION_ERROR")
	require.Equal(t, []string{"inputs[1].types"}, e.in())
	require.Equal(t, before, b.dump(t, b.tenantA))

	r := b.call(t, "POST", path, tokWrite, inputs(pairIn(c[0], co[0], 279), pairIn(c[0], co[1], 1)))
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	require.Equal(t, []string{co[1]}, b.linked(t, "contacts", c[0], "companies"))
	expectError(t, b.call(t, "POST", path, tokWrite, inputs(pairIn(c[0], f.binned, 279))), http.StatusNotFound, "OBJECT_NOT_FOUND")
	expectError(t, b.call(t, "POST", path, tokRead, inputs(pairIn(c[0], co[1], 279))), http.StatusForbidden, "MISSING_SCOPES")
	require.Equal(t, []string{co[1]}, b.linked(t, "contacts", c[0], "companies"))
}

// A batch costs the store the same commands whatever its size: one script call, never one a
// pair or a record (DESIGN: work is batched).
func TestBatchAssociationsCostOneScriptCall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.assocFixture(t, 40)
	var scripts atomic.Int64
	// Each script call sends one EVALSHA; the EVAL that follows when Redis does not have the script
	// yet (the first call of a fresh server) is the same call, and is not counted.
	b.rdb.AddHook(redistest.EachCommand(func(cmd redis.Cmder) {
		if name := strings.ToLower(cmd.Name()); strings.HasPrefix(name, "evalsha") {
			scripts.Add(1)
		}
	}))
	cost := func(method, path string, body any, status int) int64 {
		t.Helper()
		scripts.Store(0)
		r := b.call(t, method, path, tokAll, body)
		require.Equal(t, status, r.status, "body: %s", r.body)
		return scripts.Load()
	}
	pairs := func(from, n int, types ...int) map[string]any {
		var ins []any
		for i := range n {
			ins = append(ins, pairIn(f.c[from+i], f.co[from+i], types...))
		}
		return inputs(ins...)
	}
	base := "/crm/v4/associations/contacts/companies/batch/"
	require.Equal(t, cost("POST", base+"associate/default", pairs(0, 1), http.StatusOK), cost("POST", base+"associate/default", pairs(1, 19), http.StatusOK))
	require.Equal(t, cost("POST", base+"create", pairs(20, 1, 279), http.StatusCreated), cost("POST", base+"create", pairs(21, 19, 279), http.StatusCreated))
	reads := func(n int) map[string]any {
		var ins []any
		for i := range n {
			ins = append(ins, map[string]any{"id": f.c[i]})
		}
		return inputs(ins...)
	}
	require.Equal(t, cost("POST", base+"read", reads(1), http.StatusOK), cost("POST", base+"read", reads(40), http.StatusOK))
	archive := func(from, n int) map[string]any {
		var ins []any
		for i := range n {
			ins = append(ins, map[string]any{"from": map[string]any{"id": f.c[from+i]}, "to": []any{map[string]any{"id": f.co[from+i]}}})
		}
		return inputs(ins...)
	}
	require.Equal(t, cost("POST", base+"archive", archive(0, 1), http.StatusNoContent), cost("POST", base+"archive", archive(1, 39), http.StatusNoContent))
	for i := range 40 {
		require.Empty(t, b.linked(t, "contacts", f.c[i], "companies"))
	}
}
