package storetest

import (
	"context"
	"strings"
	"testing"

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
		crm.Property{Name: "size", Label: "Size", Type: crm.TypeEnumeration, Options: []string{"s", "m", "l"}})
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
	got, err := b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, size, next)
	require.NoError(t, err)
	require.Equal(t, next, got)
	sch, err := b.store.Schema(ctx, b.tenant, crm.Contacts)
	require.NoError(t, err)
	require.Equal(t, next, sch.Properties["size"])

	// A change from a definition that is no longer the stored one is refused.
	stale := size
	stale.Label = "Stale"
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, size, stale)
	var ce *crm.ConflictError
	require.ErrorAs(t, err, &ce)

	// An option a live record holds stays; one none holds goes.
	dump := hn.Dump(t, b.tenant)
	without := next
	without.Options = []string{"s", "l", "xl"}
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, next, without)
	var inUse *crm.PropertyInUseError
	require.ErrorAs(t, err, &inUse)
	require.EqualValues(t, 1, inUse.Records)
	require.Equal(t, dump, hn.Dump(t, b.tenant))
	without.Options = []string{"s", "m", "xl"}
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, next, without)
	require.NoError(t, err)

	// To string: the record keeps its value, no longer indexed as an option.
	indexed := false
	for k := range hn.Dump(t, b.tenant) {
		indexed = indexed || strings.Contains(k, "size:m")
	}
	require.True(t, indexed, "the option's index is there before")
	str := without
	str.Type, str.Options = crm.TypeString, nil
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, without, str)
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
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, str, num)
	require.ErrorAs(t, err, &inUse)
	_, err = b.store.ArchiveRecords(ctx, b.tenant, crm.Contacts, []crm.RecordID{rec.ID}, crm.Actor{User: "a@x.example"})
	require.NoError(t, err)
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, str, num)
	require.ErrorAs(t, err, &inUse)
	require.EqualValues(t, 1, inUse.Records)

	// A property of the product, or one that does not exist, is refused.
	email := crm.StandardProperties(crm.Contacts)[0]
	renamed := email
	renamed.Label = "Mail"
	var ves crm.ValidationErrors
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, email, renamed)
	require.ErrorAs(t, err, &ves)
	ghost := crm.Property{Name: "ghost", Label: "Ghost", Type: crm.TypeString}
	_, err = b.store.UpdateProperty(ctx, b.tenant, crm.Contacts, ghost, ghost)
	require.ErrorIs(t, err, crm.ErrNotFound)
}
