package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// testUpdateProperty checks UpdateProperty: it changes a definition only from the one the caller
// read, never removes an option live records hold nor gives a type values may not fit, and keeps
// the search indexes in step with a type change.
func testUpdateProperty(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := context.Background()
	size, err := b.store.CreateProperty(ctx, b.tenant, crm.Contacts,
		crm.Property{Name: "size", Label: "Size", Type: crm.TypeEnumeration, Options: []string{"s", "m", "l"}}, "ops@x.example")
	require.NoError(t, err)
	rec := b.contact(t, map[string]string{"size": "m"})
	search := func(prop, v string) int {
		t.Helper()
		res, err := b.store.Search(ctx, b.tenant, crm.Contacts, crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{{
			PropertyName: prop, Operator: crm.OpEQ, Value: v, HasValue: true}}}})
		require.NoError(t, err)
		return res.Total
	}
	require.Equal(t, 1, search("size", "m"))

	// Label, description and a new option: kept as given.
	next := size
	next.Label, next.Description, next.Options = "Shirt size", "For the swag", []string{"s", "m", "l", "xl"}
	got, err := b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, size, next, "ops@x.example")
	require.NoError(t, err)
	require.Equal(t, next, got)
	sch, err := b.store.Schema(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.Equal(t, next, sch.Properties["size"])

	// A change from a definition that is no longer the stored one is refused.
	stale := size
	stale.Label = "Stale"
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, size, stale, "ops@x.example")
	var ce *crm.ConflictError
	require.ErrorAs(t, err, &ce)

	// An option a live record holds stays; one none holds goes.
	dump := hn.Dump(t, b.tenant)
	without := next
	without.Options = []string{"s", "l", "xl"}
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, next, without, "ops@x.example")
	var inUse *crm.PropertyInUseError
	require.ErrorAs(t, err, &inUse)
	require.EqualValues(t, 1, inUse.Records)
	require.Equal(t, dump, hn.Dump(t, b.tenant))
	without.Options = []string{"s", "m", "xl"}
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, next, without, "ops@x.example")
	require.NoError(t, err)

	// To string: the record keeps its value, no longer indexed as an option.
	indexed := false
	for k := range hn.Dump(t, b.tenant) {
		indexed = indexed || strings.Contains(k, "size:m")
	}
	require.True(t, indexed, "the option's index is there before")
	str := without
	str.Type, str.Options = crm.TypeString, nil
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, without, str, "ops@x.example")
	require.NoError(t, err)
	recs, err := b.store.Records(ctx, b.tenant, crm.Contacts, []crm.RecordID{rec.ID}, nil)
	require.NoError(t, err)
	require.Equal(t, "m", recs[0].Properties["size"])
	for k := range hn.Dump(t, b.tenant) {
		require.NotContains(t, k, "size:m", "the option's index is dropped with the type")
	}

	// To number: refused while a record, live or in the bin, holds a value.
	num := str
	num.Type = crm.TypeNumber
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, str, num, "ops@x.example")
	require.ErrorAs(t, err, &inUse)
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{rec.ID}, crm.Actor{User: "a@x.example"})
	require.NoError(t, err)
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, str, num, "ops@x.example")
	require.ErrorAs(t, err, &inUse)
	require.EqualValues(t, 1, inUse.Records)

	// A property of the product, or one that does not exist, is refused.
	email := crm.StandardProperties(crm.Contacts)[0]
	renamed := email
	renamed.Label = "Mail"
	var ves crm.ValidationErrors
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, email, renamed, "ops@x.example")
	require.ErrorAs(t, err, &ves)
	ghost := crm.Property{Name: "ghost", Label: "Ghost", Type: crm.TypeString}
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, ghost, ghost, "ops@x.example")
	require.ErrorIs(t, err, crm.ErrNotFound)
}

// testArchiveProperty checks ArchiveProperty and RestoreProperty: an archive moves the definition
// alone, so every record keeps its value, hidden from reads and refused to writes and searches;
// the search indexes follow the records meanwhile (deletes, restores, erasures), so a restore
// finds them exact; and a property of the product, a unique one, a stale definition or an unknown
// name is refused, changing nothing.
func testArchiveProperty(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := context.Background()
	seats, err := b.store.CreateProperty(ctx, b.tenant, crm.Contacts, crm.Property{Name: "seats", Label: "Seats", Type: crm.TypeNumber}, "ops@x.example")
	require.NoError(t, err)
	ada := b.contact(t, map[string]string{"email": "ada@x.example", "seats": "3"})
	bob := b.contact(t, map[string]string{"email": "bob@x.example", "seats": "5"})
	eve := b.contact(t, map[string]string{"email": "eve@x.example", "seats": "31.25"})
	search := func(op crm.SearchOperator, v string) []crm.RecordID {
		t.Helper()
		res, err := b.store.Search(ctx, b.tenant, crm.Contacts, crm.SearchParams{FilterGroups: [][]crm.SearchFilter{{{
			PropertyName: "seats", Operator: op, Value: v, HasValue: true}}}})
		require.NoError(t, err)
		var ids []crm.RecordID
		for _, r := range res.Records {
			ids = append(ids, r.ID)
		}
		return ids
	}
	require.Len(t, search(crm.OpGTE, "0"), 3)

	// Refused, changing nothing.
	ref, err := b.store.CreateProperty(ctx, b.tenant, crm.Contacts, crm.Property{Name: "ref", Label: "Ref", Type: crm.TypeString, Unique: true}, "ops@x.example")
	require.NoError(t, err)
	dump := hn.Dump(t, b.tenant)
	var ce *crm.ConflictError
	_, err = b.store.ArchiveProperty(ctx, b.tenant, crm.Contacts, crm.StandardProperties(crm.Contacts)[0], "ops@x.example")
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "PROPERTY_NOT_ARCHIVABLE", ce.Code)
	_, err = b.store.ArchiveProperty(ctx, b.tenant, crm.Contacts, ref, "ops@x.example")
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "PROPERTY_NOT_ARCHIVABLE", ce.Code)
	stale := seats
	stale.Label = "Chairs"
	_, err = b.store.ArchiveProperty(ctx, b.tenant, crm.Contacts, stale, "ops@x.example")
	require.ErrorAs(t, err, &ce)
	_, err = b.store.ArchiveProperty(ctx, b.tenant, crm.Contacts, crm.Property{Name: "ghost", Label: "Ghost", Type: crm.TypeString}, "ops@x.example")
	require.ErrorIs(t, err, crm.ErrNotFound)
	_, err = b.store.RestoreProperty(ctx, b.tenant, crm.Contacts, "ghost", "ops@x.example")
	require.ErrorIs(t, err, crm.ErrNotFound)
	require.Equal(t, dump, hn.Dump(t, b.tenant))

	// Archived: the definition moves, with when and by whom; a second archive changes nothing.
	got, err := b.store.ArchiveProperty(ctx, b.tenant, crm.Contacts, seats, "ops@x.example")
	require.NoError(t, err)
	require.Equal(t, b.clock.Now(), got.ArchivedAt)
	require.Equal(t, "ops@x.example", got.ArchivedBy)
	b.clock.Advance(time.Hour)
	again, err := b.store.ArchiveProperty(ctx, b.tenant, crm.Contacts, seats, "other@x.example")
	require.NoError(t, err)
	require.Equal(t, got, again)
	sch, err := b.store.Schema(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.NotContains(t, sch.Properties, "seats")
	require.Equal(t, map[string]crm.Property{"seats": got}, sch.Archived)

	// Reads leave the values out, named or not; writes and searches refuse the property, and so
	// does a new property of its name.
	for _, opts := range []*crm.ReadOpts{nil, {Properties: []string{"seats", "email"}}} {
		recs, err := b.store.Records(ctx, b.tenant, crm.Contacts, []crm.RecordID{ada.ID}, opts)
		require.NoError(t, err)
		require.NotContains(t, recs[0].Properties, "seats")
		require.Equal(t, "ada@x.example", recs[0].Properties["email"])
	}
	dump = hn.Dump(t, b.tenant)
	var ves crm.ValidationErrors
	_, err = b.store.UpdateRecords(ctx, b.tenant, crm.Contacts, []crm.RecordUpdate{{ID: ada.ID, Properties: map[string]string{"seats": ""}}}, crm.Actor{User: "ops@x.example"})
	require.ErrorAs(t, err, &ves)
	require.Equal(t, "PROPERTY_ARCHIVED", ves[0].Code)
	_, err = b.store.Search(ctx, b.tenant, crm.Contacts, crm.SearchParams{Sorts: []crm.SearchSort{{PropertyName: "seats"}}})
	require.ErrorAs(t, err, &ves)
	require.Equal(t, "PROPERTY_ARCHIVED", ves[0].Code)
	_, err = b.store.CreateProperty(ctx, b.tenant, crm.Contacts, crm.Property{Name: "seats", Label: "Seats", Type: crm.TypeString}, "ops@x.example")
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "PROPERTY_ARCHIVED", ce.Code)
	require.Equal(t, dump, hn.Dump(t, b.tenant))

	// Meanwhile the records move: bob to the bin, eve erased for good.
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{bob.ID}, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	_, err = b.store.PermanentDeleteContact(ctx, b.tenant, crm.PermanentDeleteParams{ID: eve.ID, By: "dpo@x.example"})
	require.NoError(t, err)
	for k, v := range hn.Dump(t, b.tenant) {
		require.NotContains(t, v, "31.25", "%s keeps the erased contact's value of the archived property", k)
	}

	// Restored: the values are back as they were, and the indexes exact.
	back, err := b.store.RestoreProperty(ctx, b.tenant, crm.Contacts, "seats", "ops@x.example")
	require.NoError(t, err)
	require.Equal(t, seats, back)
	sch, err = b.store.Schema(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.Equal(t, seats, sch.Properties["seats"])
	require.Empty(t, sch.Archived)
	recs, err := b.store.Records(ctx, b.tenant, crm.Contacts, []crm.RecordID{ada.ID}, nil)
	require.NoError(t, err)
	require.Equal(t, "3", recs[0].Properties["seats"])
	binned, err := b.store.Records(ctx, b.tenant, crm.Contacts, []crm.RecordID{bob.ID}, &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	require.Equal(t, "5", binned[0].Properties["seats"])
	require.Equal(t, []crm.RecordID{ada.ID}, search(crm.OpGTE, "0"))
	_, err = b.store.RestoreRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{bob.ID}, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{bob.ID}, search(crm.OpEQ, "5"))
	again, err = b.store.RestoreProperty(ctx, b.tenant, crm.Contacts, "seats", "ops@x.example")
	require.NoError(t, err)
	require.Equal(t, seats, again, "a live property is answered as it is")
}

// testSchemaChangesAudited checks that each change of the data model writes one audit entry in the
// step that makes it (a property created, changed, archived, restored; a custom object type
// created), with the type, the property, who and when, and for a change what it changed; and that
// a refused change, or one that changes nothing, writes none.
func testSchemaChangesAudited(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := context.Background()
	actions := []string{crm.AuditPropertyCreate, crm.AuditPropertyUpdate, crm.AuditPropertyArchive, crm.AuditPropertyRestore,
		crm.AuditObjectTypeCreate}
	audit := func() []crm.AuditEntry {
		t.Helper()
		entries, _, err := b.store.Audit(ctx, b.tenant, &crm.AuditOpts{Actions: actions, Limit: 1000})
		require.NoError(t, err)
		for i := range entries {
			entries[i].ID = ""
		}
		return entries
	}
	t0 := b.clock.Now()
	at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

	_, err := b.store.CreateObjectType(ctx, b.tenant, crm.ObjectTypeDef{Name: "pets",
		Properties: []crm.Property{{Name: "pet_name", Type: crm.TypeString}}}, "a@x.example")
	require.NoError(t, err)
	b.clock.Advance(time.Minute)
	size, err := b.store.CreateProperty(ctx, b.tenant, crm.Contacts,
		crm.Property{Name: "size", Label: "Size", Type: crm.TypeEnumeration, Options: []string{"s", "m", "l"}}, "b@x.example")
	require.NoError(t, err)
	b.contact(t, map[string]string{"size": "m"})
	b.clock.Advance(time.Minute)
	next := size
	next.Label, next.Options, next.OptionLabels = "Shirt size", []string{"s", "m", "xl"}, map[string]string{"xl": "Extra large"}
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, size, next, "c@x.example")
	require.NoError(t, err)

	// Refused, or changing nothing: no entry, nothing changed.
	dump := hn.Dump(t, b.tenant)
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, next, next, "c@x.example")
	require.NoError(t, err)
	without := next
	without.Options = []string{"s", "xl"}
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, next, without, "c@x.example")
	var inUse *crm.PropertyInUseError
	require.ErrorAs(t, err, &inUse)
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, size, without, "c@x.example")
	var ce *crm.ConflictError
	require.ErrorAs(t, err, &ce, "a definition no longer the stored one")
	_, err = b.store.CreateProperty(ctx, b.tenant, crm.Contacts, crm.Property{Name: "size", Type: crm.TypeString}, "b@x.example")
	require.ErrorAs(t, err, &ce)
	_, err = b.store.CreateObjectType(ctx, b.tenant, crm.ObjectTypeDef{Name: "pets"}, "a@x.example")
	require.ErrorAs(t, err, &ce)
	_, err = b.store.RestoreProperty(ctx, b.tenant, crm.Contacts, "size", "e@x.example")
	require.NoError(t, err, "a live property is answered as it is")
	require.Equal(t, dump, hn.Dump(t, b.tenant))

	b.clock.Advance(time.Minute)
	_, err = b.store.ArchiveProperty(ctx, b.tenant, crm.Contacts, next, "d@x.example")
	require.NoError(t, err)
	b.clock.Advance(time.Minute)
	_, err = b.store.ArchiveProperty(ctx, b.tenant, crm.Contacts, next, "d@x.example")
	require.NoError(t, err, "archived already: answered as it is")
	_, err = b.store.RestoreProperty(ctx, b.tenant, crm.Contacts, "size", "e@x.example")
	require.NoError(t, err)

	entry := func(action string, o crm.ObjectType, prop, by string, minutes int) crm.AuditEntry {
		return crm.AuditEntry{Action: action, ObjectType: o, Property: prop, By: by, Via: crm.ViaAPI, At: at(minutes)}
	}
	update := entry(crm.AuditPropertyUpdate, crm.Contacts, "size", "c@x.example", 2)
	update.Changed, update.OptionsAdded, update.OptionsRemoved = []string{"label", "options"}, 1, 1
	require.Equal(t, []crm.AuditEntry{
		entry(crm.AuditObjectTypeCreate, "pets", "", "a@x.example", 0),
		entry(crm.AuditPropertyCreate, crm.Contacts, "size", "b@x.example", 1),
		update,
		entry(crm.AuditPropertyArchive, crm.Contacts, "size", "d@x.example", 3),
		entry(crm.AuditPropertyRestore, crm.Contacts, "size", "e@x.example", 4),
	}, audit())
}

// testPropertyBatches checks CreateProperties and ArchiveProperties: each makes all its changes in
// one step, with an audit entry per property in their order, or none of them.
func testPropertyBatches(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := context.Background()
	entries := func(action string) []string {
		t.Helper()
		es, _, err := b.store.Audit(ctx, b.tenant, &crm.AuditOpts{Actions: []string{action}, Limit: 1000})
		require.NoError(t, err)
		var out []string
		for _, e := range es {
			require.Equal(t, "ops@x.example", e.By)
			out = append(out, e.Property)
		}
		return out
	}
	hat := crm.Property{Name: "hat", Label: "Hat", Type: crm.TypeNumber}
	shoe := crm.Property{Name: "shoe", Type: crm.TypeEnumeration, Options: []string{"s", "l"}}
	made, err := b.store.CreateProperties(ctx, b.tenant, crm.Contacts, []crm.Property{hat, shoe}, "ops@x.example")
	require.NoError(t, err)
	shoe.Label = "shoe" // a property without a label is labelled by its name
	require.Equal(t, []crm.Property{hat, shoe}, made)
	sch, err := b.store.Schema(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.Equal(t, hat, sch.Properties["hat"])
	require.Equal(t, shoe, sch.Properties["shoe"])
	require.Equal(t, []string{"hat", "shoe"}, entries(crm.AuditPropertyCreate))

	// Refused whole: nothing is created, no entry written.
	dump := hn.Dump(t, b.tenant)
	coat := crm.Property{Name: "coat", Label: "Coat", Type: crm.TypeString}
	big := crm.Property{Name: "big", Label: "Big", Type: crm.TypeEnumeration}
	for i := range 4000 {
		big.Options = append(big.Options, fmt.Sprintf("option_%04d_%s", i, strings.Repeat("x", 60)))
	}
	big2 := big
	big2.Name = "big2"
	var ce *crm.ConflictError
	var ve *crm.ValidationError
	for _, tc := range []struct {
		name  string
		ps    []crm.Property
		check func(err error)
	}{
		{"Taken", []crm.Property{coat, hat}, func(err error) { require.ErrorAs(t, err, &ce) }},
		{"Twice", []crm.Property{coat, coat}, func(err error) { require.ErrorAs(t, err, &ve); require.Equal(t, "DUPLICATE_NAME", ve.Code) }},
		{"Invalid", []crm.Property{coat, {Name: "Bad Name", Type: crm.TypeString}}, func(err error) { require.ErrorAs(t, err, &ve) }},
		{"TooLarge", []crm.Property{coat, big, big2}, func(err error) { require.ErrorAs(t, err, &ve); require.Equal(t, "SCHEMA_TOO_LARGE", ve.Code) }},
		{"None", nil, func(err error) { require.ErrorAs(t, err, &ve) }},
	} {
		_, err := b.store.CreateProperties(ctx, b.tenant, crm.Contacts, tc.ps, "ops@x.example")
		require.Error(t, err, tc.name)
		tc.check(err)
		require.Equal(t, dump, hn.Dump(t, b.tenant), tc.name)
	}

	// An archive of several: one step, an entry each; one archived already is answered as it is.
	_, err = b.store.ArchiveProperty(ctx, b.tenant, crm.Contacts, hat, "ops@x.example")
	require.NoError(t, err)
	coat2, err := b.store.CreateProperty(ctx, b.tenant, crm.Contacts, coat, "ops@x.example")
	require.NoError(t, err)
	// Refused whole: a definition changed since it was read, a product's property, a name twice.
	dump = hn.Dump(t, b.tenant)
	stale := coat2
	stale.Label = "Stale"
	for name, ps := range map[string][]crm.Property{
		"Stale":    {shoe, stale},
		"Standard": {shoe, crm.StandardProperties(crm.Contacts)[0]},
		"Twice":    {shoe, shoe},
	} {
		_, err := b.store.ArchiveProperties(ctx, b.tenant, crm.Contacts, ps, "ops@x.example")
		require.Error(t, err, name)
		require.Equal(t, dump, hn.Dump(t, b.tenant), name)
	}
	got, err := b.store.ArchiveProperties(ctx, b.tenant, crm.Contacts, []crm.Property{shoe, hat, coat2}, "ops@x.example")
	require.NoError(t, err)
	require.Equal(t, []string{"shoe", "hat", "coat"}, []string{got[0].Name, got[1].Name, got[2].Name})
	for _, p := range got {
		require.Equal(t, "ops@x.example", p.ArchivedBy)
	}
	sch, err = b.store.Schema(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	for _, p := range got {
		require.Equal(t, p, sch.Archived[p.Name])
		require.NotContains(t, sch.Properties, p.Name)
	}
	require.Equal(t, []string{"hat", "shoe", "coat"}, entries(crm.AuditPropertyArchive))
}
