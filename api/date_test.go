package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// mayFirst is 2027-05-01 at midnight UTC in unix milliseconds, the form HubSpot stores a date in.
const mayFirst = 1809129600000

// dayMs is one day in milliseconds.
const dayMs = 86_400_000

// dateProperty creates the date property name of tenant A's contacts, as HubSpot's clients send
// one (type date, fieldType date).
func (b *testBundle) dateProperty(t *testing.T, name string) fullProperty {
	t.Helper()
	return expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{
		"name": name, "label": "Renewal date", "type": "date", "fieldType": "date", "groupName": "contactinformation"}), http.StatusCreated)
}

// dateContact creates a contact of tenant A through the API with props and returns it as answered.
func (b *testBundle) dateContact(t *testing.T, props map[string]any) record {
	t.Helper()
	return expect[record](t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{"properties": props}), http.StatusCreated)
}

// TestDateProperty covers HubSpot's date type over HTTP: a calendar day without a time, written as
// YYYY-MM-DD or as unix milliseconds at midnight UTC, read back as YYYY-MM-DD, searched and sorted
// by day, and read by triggers and protection rules as its midnight UTC.
func TestDateProperty(t *testing.T) {
	t.Parallel()

	t.Run("CreateWriteRead", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		made := b.dateProperty(t, "renewal_date")
		require.Equal(t, []string{"renewal_date", "date", "date"}, []string{made.Name, made.Type, made.FieldType})
		require.Equal(t, made, expect[fullProperty](t, b.call(t, "GET", "/crm/v3/properties/contacts/renewal_date", tokRead, nil), http.StatusOK))

		// Each form HubSpot takes is stored, and answered, as the day.
		for _, v := range []any{"2027-05-01", " 2027-05-01 ", int64(mayFirst), strconv.Itoa(mayFirst)} {
			rec := b.dateContact(t, map[string]any{"renewal_date": v})
			require.Equal(t, "2027-05-01", rec.Properties["renewal_date"], "%v", v)
			got := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+rec.ID+"?properties=renewal_date", tokRead, nil), http.StatusOK)
			require.Equal(t, "2027-05-01", got.Properties["renewal_date"], "%v", v)
		}
		rec := b.dateContact(t, map[string]any{"renewal_date": "2027-05-01"})
		got := expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+rec.ID, tokAll,
			map[string]any{"properties": map[string]any{"renewal_date": int64(mayFirst + 30*dayMs)}}), http.StatusOK)
		require.Equal(t, "2027-05-31", got.Properties["renewal_date"])
		stored, err := b.store.Record(b.ctx, b.tenantA, crm.Contacts, crm.RecordID(rec.ID), nil)
		require.NoError(t, err)
		require.Equal(t, "2027-05-31", stored.Properties["renewal_date"], "stored as the day")
		score, err := b.rdb.ZScore(b.ctx, redisstore.SearchIndexKey(b.tenantA, crm.Contacts, "renewal_date"), rec.ID).Result()
		require.NoError(t, err)
		require.Equal(t, float64(mayFirst+30*dayMs), score, "indexed by its midnight UTC")
		got = expect[record](t, b.call(t, "PATCH", "/crm/v3/objects/contacts/"+rec.ID, tokAll,
			map[string]any{"properties": map[string]any{"renewal_date": nil}}), http.StatusOK)
		require.NotContains(t, got.Properties, "renewal_date", "null clears it")
	})

	t.Run("InvalidValuesRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.dateProperty(t, "renewal_date")
		id := b.dateContact(t, map[string]any{"renewal_date": "2027-05-01"}).ID
		before := b.snapshot(t, b.tenantA)
		for _, c := range []struct {
			name   string
			value  any
			reason string
		}{
			{"TimeOfDay", "2027-05-01T10:00:00Z", "it is a datetime, and a date holds a day without a time: write the day alone, 2027-05-01"},
			{"MidnightDatetime", "2027-05-01T00:00:00.000Z", "it is a datetime"},
			{"MillisNotMidnight", int64(mayFirst + 10*3600_000), "are 2027-05-01T10:00:00.000Z, not midnight UTC"},
			{"MillisNotMidnightText", strconv.Itoa(mayFirst + 1), "not midnight UTC"},
			{"NoSuchDay", "2027-02-30", "2027-02-30 is not a day of the calendar"},
			{"OtherLayout", "05/01/2027", "neither a day written as YYYY-MM-DD nor unix milliseconds"},
			{"Bool", true, "neither"},
		} {
			for _, req := range []struct{ method, path string }{
				{"POST", "/crm/v3/objects/contacts"},
				{"PATCH", "/crm/v3/objects/contacts/" + id},
			} {
				e := expectError(t, b.call(t, req.method, req.path, tokAll,
					map[string]any{"properties": map[string]any{"renewal_date": c.value, "firstname": "Changed"}}), http.StatusBadRequest, "VALIDATION_ERROR")
				require.Equal(t, []string{"renewal_date"}, e.in(), "%s %s", c.name, req.method)
				require.Equal(t, "INVALID_DATE", e.Errors[0].Code, c.name)
				require.Contains(t, e.Message, `property "renewal_date": `+strconv.Quote(fmt.Sprint(c.value))+" is not a valid date: ", c.name)
				require.Contains(t, e.Message, c.reason, c.name)
				require.Contains(t, e.Message, crm.DateForms, c.name)
			}
		}
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/batch/create", tokAll, map[string]any{"inputs": []any{
			map[string]any{"properties": map[string]any{"renewal_date": "2027-05-02"}},
			map[string]any{"properties": map[string]any{"renewal_date": "2027-05-02T08:00:00+02:00"}}}}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e.Message, "renewal_date")
		require.Contains(t, e.Message, "it is a datetime")
		require.Equal(t, before, b.snapshot(t, b.tenantA), "nothing stored")
	})

	t.Run("CustomObjectSchema", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := b.call(t, "POST", "/crm/v3/schemas", tokAll, map[string]any{
			"name": "subscriptions", "labels": map[string]any{"singular": "Subscription", "plural": "Subscriptions"},
			"properties": []any{
				map[string]any{"name": "renews", "label": "Renews", "type": "date", "fieldType": "date"},
				map[string]any{"name": "seats", "label": "Seats", "type": "number"},
			},
		})
		require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
		prop := expect[fullProperty](t, b.call(t, "GET", "/crm/v3/properties/subscriptions/renews", tokRead, nil), http.StatusOK)
		require.Equal(t, []string{"date", "date"}, []string{prop.Type, prop.FieldType})
		var ids []string
		for i := range 3 {
			rec := expect[record](t, b.call(t, "POST", "/crm/v3/objects/subscriptions", tokAll,
				map[string]any{"properties": map[string]any{"renews": int64(mayFirst + i*dayMs), "seats": i}}), http.StatusCreated)
			require.Equal(t, fmt.Sprintf("2027-05-0%d", i+1), rec.Properties["renews"])
			ids = append(ids, rec.ID)
		}
		e := expectError(t, b.call(t, "POST", "/crm/v3/objects/subscriptions", tokAll,
			map[string]any{"properties": map[string]any{"renews": "2027-05-01 10:00"}}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"renews"}, e.in())
		got := expect[searchPage](t, b.call(t, "POST", "/crm/v3/objects/subscriptions/search", tokRead,
			groups([]map[string]any{filter("renews", "GTE", "2027-05-02")})), http.StatusOK)
		require.Equal(t, ids[1:], resultIDs(got))
	})

	t.Run("Search", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.dateProperty(t, "renewal_date")
		day := map[string]int{} // record id -> day of May 2027
		for _, d := range []int{7, 3, 10, 1, 5, 9, 2, 8, 4, 6} {
			rec := b.dateContact(t, map[string]any{"renewal_date": fmt.Sprintf("2027-05-%02d", d), "firstname": fmt.Sprint("Day ", d)})
			day[rec.ID] = d
		}
		none := b.dateContact(t, map[string]any{"firstname": "No date"}).ID
		days := func(keep func(d int) bool) []string {
			var out []string
			for id, d := range day {
				if keep(d) {
					out = append(out, id)
				}
			}
			slices.SortFunc(out, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
			return out
		}
		ms := func(d int) string { return strconv.Itoa(mayFirst + (d-1)*dayMs) }
		for _, c := range []struct {
			name string
			f    map[string]any
			want []string
		}{
			{"EQ", filter("renewal_date", "EQ", "2027-05-03"), days(func(d int) bool { return d == 3 })},
			{"EQMillis", filter("renewal_date", "EQ", ms(3)), days(func(d int) bool { return d == 3 })},
			{"NEQ", filter("renewal_date", "NEQ", "2027-05-03"), append(days(func(d int) bool { return d != 3 }), none)},
			{"LT", filter("renewal_date", "LT", "2027-05-03"), days(func(d int) bool { return d < 3 })},
			{"LTE", filter("renewal_date", "LTE", "2027-05-03"), days(func(d int) bool { return d <= 3 })},
			{"GT", filter("renewal_date", "GT", ms(8)), days(func(d int) bool { return d > 8 })},
			{"GTE", filter("renewal_date", "GTE", "2027-05-08"), days(func(d int) bool { return d >= 8 })},
			{"BETWEEN", map[string]any{"propertyName": "renewal_date", "operator": "BETWEEN", "value": "2027-05-04", "highValue": ms(6)},
				days(func(d int) bool { return d >= 4 && d <= 6 })},
			{"IN", map[string]any{"propertyName": "renewal_date", "operator": "IN", "values": []string{"2027-05-02", ms(9)}},
				days(func(d int) bool { return d == 2 || d == 9 })},
			{"NOT_IN", map[string]any{"propertyName": "renewal_date", "operator": "NOT_IN", "values": []string{"2027-05-02", ms(9)}},
				append(days(func(d int) bool { return d != 2 && d != 9 }), none)},
			{"HAS_PROPERTY", map[string]any{"propertyName": "renewal_date", "operator": "HAS_PROPERTY"}, days(func(int) bool { return true })},
			{"NOT_HAS_PROPERTY", map[string]any{"propertyName": "renewal_date", "operator": "NOT_HAS_PROPERTY"}, []string{none}},
		} {
			got := b.search(t, tokRead, groups([]map[string]any{c.f}))
			require.Equal(t, c.want, resultIDs(got), c.name)
			require.Equal(t, len(c.want), got.Total, c.name)
		}
		// Beside a filter on another property, the date tests the records that one finds.
		got := b.search(t, tokRead, groups([]map[string]any{filter("firstname", "EQ", "day 4"), filter("renewal_date", "LTE", "2027-05-04")}))
		require.Equal(t, days(func(d int) bool { return d == 4 }), resultIDs(got))

		// Sorted by day across pages, the record without one last (0 here), either way round.
		for _, desc := range []bool{false, true} {
			var order []int
			after := ""
			for range 10 {
				body := map[string]any{"limit": 3, "sorts": []any{map[string]any{"propertyName": "renewal_date",
					"direction": map[bool]string{false: "ASCENDING", true: "DESCENDING"}[desc]}}}
				if after != "" {
					body["after"] = after
				}
				p := b.search(t, tokRead, body)
				for _, r := range p.Results {
					order = append(order, day[r.ID])
				}
				if p.Paging == nil {
					break
				}
				after = p.Paging.Next.After
			}
			want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
			if desc {
				slices.Reverse(want)
			}
			require.Equal(t, append(want, 0), order, "descending %v", desc)
		}
		// A range sorted by its own index reads its page alone.
		got = b.search(t, tokRead, map[string]any{"limit": 3, "sorts": []string{"-renewal_date"},
			"filterGroups": []any{map[string]any{"filters": []any{filter("renewal_date", "GTE", "2027-05-02")}}}})
		require.Equal(t, 9, got.Total)
		require.Equal(t, []int{10, 9, 8}, []int{day[got.Results[0].ID], day[got.Results[1].ID], day[got.Results[2].ID]})

		// A filter value takes the forms a write takes.
		for _, v := range []string{"2027-05-03T10:00:00Z", ms(3) + "1", "05/03/2027"} {
			e := expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts/search", tokRead, groups([]map[string]any{filter("renewal_date", "GT", v)})),
				http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{"filterGroups[0].filters[0].value"}, e.in(), v)
			require.Contains(t, e.Message, "renewal_date", v)
			require.Contains(t, e.Message, strconv.Quote(v)+" is not a date: ", v)
			require.Contains(t, e.Message, crm.DateForms, v)
		}
	})

	t.Run("WorkflowTrigger", func(t *testing.T) {
		t.Parallel()
		b := setup(t) // its clock: 2026-03-01T12:00:00Z
		b.dateProperty(t, "renewal_date")
		auth := "Bearer " + b.tokens[tokAll]
		lapsed := b.dateContact(t, map[string]any{"renewal_date": "2026-02-01"}).ID
		soon := b.dateContact(t, map[string]any{"renewal_date": "2026-03-05"}).ID
		b.dateContact(t, map[string]any{"firstname": "No date"})

		for _, c := range []struct {
			trigger string
			want    []string
		}{
			{`isSet("renewal_date") && daysSince(renewal_date) > 20`, []string{lapsed}},
			{`renewal_date == date("2026-03-05")`, []string{soon}},
			{`renewal_date > now && hoursSince(renewal_date) == -84`, []string{soon}},
		} {
			src := "name: renewals\nobject_type: contacts\ntrigger: " + strconv.Quote(c.trigger) + "\nactions:\n  - type: delay\n    until: renewal_date\n" +
				"  - type: set_property\n    property: renewal_date\n    value: \"2027-03-05\"\n"
			p := expect[preview](t, b.raw(t, "POST", "/automation/v4/flows/preview", auth, yamlBody(src)), http.StatusOK)
			require.Equal(t, int64(len(c.want)), p.Matched, c.trigger)
			var got []string
			for _, r := range p.Sample {
				got = append(got, r.ID)
			}
			require.Equal(t, c.want, got, c.trigger)
			expect[flow](t, b.put(t, auth, "renewals", src), http.StatusCreated)
		}

		// Validation: a date compares with a date, and set_property takes a date's forms only.
		before := b.snapshot(t, b.tenantA)
		expectProblems(t, b.put(t, auth, "bad", "name: bad\nobject_type: contacts\ntrigger: renewal_date == \"2026-03-05\"\nactions:\n  - type: delete_contact\n"),
			problem{3, 23, "trigger", `a datetime or date property compares with a date, such as date("2024-01-01")`})
		expectProblems(t, b.put(t, auth, "bad", "name: bad\nobject_type: contacts\ntrigger: email_bounced\nactions:\n"+
			"  - type: set_property\n    property: renewal_date\n    value: \"2027-03-05T09:00:00Z\"\n"),
			problem{7, 12, "actions[0].value", `property "renewal_date": "2027-03-05T09:00:00Z" is not a valid date: it is a datetime`})
		require.Equal(t, before, b.snapshot(t, b.tenantA))
	})

	t.Run("ProtectionRule", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.dateProperty(t, "renewal_date")
		current := b.dateContact(t, map[string]any{"renewal_date": "2027-05-01"}).ID
		lapsed := b.dateContact(t, map[string]any{"renewal_date": "2026-01-31"}).ID
		b.protect(t, "renewing", "contacts", `renewal_date >= date("2026-03-01")`)
		before := b.dump(t, b.tenantA)
		e := expect[errorJSON](t, b.call(t, "DELETE", "/crm/v3/objects/contacts/"+current, tokDelete, nil), http.StatusConflict)
		require.Equal(t, "PROTECTED", e.Errors[0].Code)
		require.Equal(t, []string{"renewing"}, e.Context["rule"])
		require.Equal(t, before, b.dump(t, b.tenantA))
		require.Equal(t, http.StatusNoContent, b.call(t, "DELETE", "/crm/v3/objects/contacts/"+lapsed, tokDelete, nil).status)
		b.requireLive(t, crm.Contacts, lapsed, false)
		b.requireLive(t, crm.Contacts, current, true)

		r := b.call(t, "PUT", "/crm/v3/protection/texts", tokAll, map[string]any{"objectType": "contacts", "when": `renewal_date == "2026-03-01"`})
		e2 := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
		require.Contains(t, e2.Message, "mismatched types time.Time and string")
	})

	// TypeChange: date follows the rules of every type. To string always (a stored day is a valid
	// string), to any other type only while no record holds a value, and never while an active
	// workflow's trigger reads it; the form field follows the type.
	t.Run("TypeChange", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.dateProperty(t, "renewal_date")
		id := b.dateContact(t, map[string]any{"renewal_date": "2027-05-01"}).ID
		ix := redisstore.SearchIndexKey(b.tenantA, crm.Contacts, "renewal_date")
		require.EqualValues(t, 1, b.rdb.Exists(b.ctx, ix).Val())

		before := b.snapshot(t, b.tenantA)
		e := expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/renewal_date", tokAll, map[string]any{"fieldType": "text"}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, "INVALID_FIELD_TYPE", e.Errors[0].Code)
		require.Contains(t, e.Message, "use date")
		for _, to := range []string{"datetime", "number"} {
			e = expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/renewal_date", tokAll, map[string]any{"type": to}), http.StatusConflict, "CONFLICT")
			require.Equal(t, "PROPERTY_IN_USE", e.Errors[0].Code, to)
			require.Equal(t, []string{"1"}, e.Context["records"], to)
			require.Contains(t, e.Message, "change the type (date to "+to+")", to)
		}
		require.Equal(t, before, b.snapshot(t, b.tenantA))

		// To string: the records keep the day as stored, and the date's index goes.
		got := expect[fullProperty](t, b.call(t, "PATCH", "/crm/v3/properties/contacts/renewal_date", tokAll, map[string]any{"type": "string", "fieldType": "text"}), http.StatusOK)
		require.Equal(t, []string{"string", "text"}, []string{got.Type, got.FieldType})
		require.EqualValues(t, 0, b.rdb.Exists(b.ctx, ix).Val())
		rec := expect[record](t, b.call(t, "GET", "/crm/v3/objects/contacts/"+id+"?properties=renewal_date", tokRead, nil), http.StatusOK)
		require.Equal(t, "2027-05-01", rec.Properties["renewal_date"])
		// And back to date only while no record holds a value.
		e = expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/renewal_date", tokAll, map[string]any{"type": "date"}), http.StatusConflict, "CONFLICT")
		require.Equal(t, "PROPERTY_IN_USE", e.Errors[0].Code)

		// A datetime without values becomes a date: its writes take days from then on, indexed.
		expect[fullProperty](t, b.call(t, "POST", "/crm/v3/properties/contacts", tokAll, map[string]any{
			"name": "starts", "label": "Starts", "type": "datetime", "fieldType": "date"}), http.StatusCreated)
		got = expect[fullProperty](t, b.call(t, "PATCH", "/crm/v3/properties/contacts/starts", tokAll, map[string]any{"type": "date", "fieldType": "date"}), http.StatusOK)
		require.Equal(t, []string{"date", "date"}, []string{got.Type, got.FieldType})
		expectError(t, b.call(t, "POST", "/crm/v3/objects/contacts", tokAll, map[string]any{"properties": map[string]any{"starts": "2027-05-01T09:00:00Z"}}),
			http.StatusBadRequest, "VALIDATION_ERROR")
		started := b.dateContact(t, map[string]any{"starts": int64(mayFirst)})
		require.Equal(t, "2027-05-01", started.Properties["starts"])
		require.Equal(t, []string{started.ID}, resultIDs(b.search(t, tokRead, groups([]map[string]any{filter("starts", "EQ", "2027-05-01")}))))

		// A date an active workflow's trigger reads keeps its type, even to datetime, under which
		// the trigger would still compile.
		auth := "Bearer " + b.tokens[tokAll]
		expect[flow](t, b.put(t, auth, "starting", "name: starting\nobject_type: contacts\ntrigger: daysSince(starts) > 0\nactions:\n  - type: delete_contact\n"), http.StatusCreated)
		expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/starting/activate", auth, map[string]any{"enrollExisting": false}), http.StatusOK)
		e = expectError(t, b.call(t, "PATCH", "/crm/v3/properties/contacts/starts", tokAll, map[string]any{"type": "datetime"}), http.StatusConflict, "CONFLICT")
		require.Equal(t, []string{"starting"}, e.Context["workflows"])
		require.Contains(t, e.Message, "typed as date")
	})
}
