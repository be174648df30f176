package triggers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
)

func contactsSchema(t testing.TB) crm.Schema {
	t.Helper()
	s, ok := crm.StandardSchema(crm.Contacts)
	require.True(t, ok)
	return s
}

func TestMatch(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	rec := crm.Record{ID: "7", Type: crm.Contacts, Properties: map[string]string{
		"email": "a@example.com", "lifecyclestage": "lead", "num_notes": "3", "email_bounced": "true",
		"last_activity_date": "2024-05-01T00:00:00.000Z"}}
	tests := []struct {
		src  string
		want bool
	}{
		{`lifecyclestage == "lead"`, true},
		{`lifecyclestage != "customer" && daysSince(last_activity_date) > 730`, true},
		{`daysSince(last_activity_date) > 800`, false},
		{`email_bounced`, true},
		{`num_notes >= 3 && num_notes < 4`, true},
		{`isSet("phone")`, false},
		{`!isSet("phone") && isSet("email")`, true},
		{`hasSuffix(email, "@example.com") && id == "7"`, true},
		{`lower(email) matches "^[a-z]+@"`, true},
		{`daysSince(now) == 0`, true},
		// An unset datetime is infinitely long ago.
		{`daysSince(hs_lead_status == "" ? last_activity_date : last_activity_date) < 1e9`, true},
		{`num_notes == 0`, false},
	}
	for _, tt := range tests {
		p, err := triggers.Compile(tt.src, contactsSchema(t))
		require.NoError(t, err, tt.src)
		got, err := p.Match(rec, now)
		require.NoError(t, err, tt.src)
		require.Equal(t, tt.want, got, tt.src)
	}
	p, err := triggers.Compile(`daysSince(last_activity_date) > 1e300`, contactsSchema(t))
	require.NoError(t, err)
	got, err := p.Match(crm.Record{ID: "8", Properties: map[string]string{}}, now)
	require.NoError(t, err)
	require.True(t, got, "an unset datetime reads as infinitely old")
}

// TestMatchBuildsWhatItReads checks that an expression sees every name it reads however it reads
// it (directly, through let, inside a predicate, through $env), that Match and NewEnv+Run agree,
// and that reusing the evaluation state between records and goroutines mixes nothing up.
// TestMatchDate checks that a date property reads as its day's midnight UTC, a time as a datetime
// does: compared with date(...), and counted by daysSince and hoursSince, whether the record is read
// lazily (Match) or in a prepared environment (NewEnv and Run).
func TestMatchDate(t *testing.T) {
	t.Parallel()
	schema := contactsSchema(t)
	schema.Properties["renewal"] = crm.Property{Name: "renewal", Label: "Renewal", Type: crm.TypeDate}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	rec := crm.Record{ID: "7", Type: crm.Contacts, Properties: map[string]string{"renewal": "2026-05-01"}}
	for _, tt := range []struct {
		src  string
		want bool
	}{
		{`renewal == date("2026-05-01")`, true},
		{`renewal < date("2026-05-01T00:00:01Z") && renewal > date("2026-04-30")`, true},
		{`daysSince(renewal) == 31.5`, true},
		{`hoursSince(renewal) == 756`, true},
		{`renewal < now && isSet("renewal")`, true},
		{`renewal == date("2026-05-02")`, false},
	} {
		p, err := triggers.Compile(tt.src, schema)
		require.NoError(t, err, tt.src)
		got, err := p.Match(rec, now)
		require.NoError(t, err, tt.src)
		require.Equal(t, tt.want, got, tt.src)
		got, err = p.Run(p.NewEnv(rec, now))
		require.NoError(t, err, tt.src)
		require.Equal(t, tt.want, got, tt.src)
	}
	p, err := triggers.Compile(`daysSince(renewal) > 1e300`, schema)
	require.NoError(t, err)
	got, err := p.Match(crm.Record{ID: "8", Properties: map[string]string{}}, now)
	require.NoError(t, err)
	require.True(t, got, "an unset date reads as infinitely old")
	_, err = triggers.Compile(`renewal == "2026-05-01"`, schema)
	require.ErrorContains(t, err, "mismatched types time.Time and string")
}

func TestMatchBuildsWhatItReads(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	exprs := []string{
		`let f = firstname; f == "Ada" && lastname != ""`,
		`any(["Ada", "Bob"], {# == firstname})`,
		`$env["firstname"] == "Ada"`,
		`$env.num_notes > 2 && isSet("email")`,
		`id == "1" || daysSince(last_activity_date) < 0`,
		`hoursSince(now) == 0 && firstname == "Ada"`,
		`firstname + lastname == "AdaLovelace"`,
		`let s = lastname; s == "Lovelace" && firstname == "Ada"`,
		`firstname == "Bob" || firstname == "Ada" && num_notes > 2 && num_notes < 4`,
		`email_bounced || daysSince(last_activity_date) > 30 && hasSuffix(lower(email), "@example.com")`,
		`last_activity_date > now || all([1, 2], {num_notes > float(#)}) && !email_bounced`,
	}
	recs := []crm.Record{
		{ID: "1", Properties: map[string]string{"firstname": "Ada", "lastname": "Lovelace", "num_notes": "3", "email": "a@example.com",
			"last_activity_date": "2026-01-01T00:00:00.000Z"}},
		{ID: "2", Properties: map[string]string{"firstname": "Bob", "num_notes": "1", "email_bounced": "true"}},
		{ID: "3", Properties: map[string]string{}},
	}
	want := map[string][]bool{
		exprs[0]:  {true, false, false},
		exprs[1]:  {true, true, false},
		exprs[2]:  {true, false, false},
		exprs[3]:  {true, false, false},
		exprs[4]:  {true, false, false},
		exprs[5]:  {true, false, false},
		exprs[6]:  {true, false, false},
		exprs[7]:  {true, false, false},
		exprs[8]:  {true, true, false},
		exprs[9]:  {true, true, false},
		exprs[10]: {true, false, false},
	}
	progs := make([]*triggers.Program, len(exprs))
	for i, src := range exprs {
		p, err := triggers.Compile(src, contactsSchema(t))
		require.NoError(t, err, src)
		progs[i] = p
		for j, rec := range recs {
			got, err := p.Run(p.NewEnv(rec, now))
			require.NoError(t, err, src)
			require.Equal(t, want[src][j], got, "%s on record %s through NewEnv", src, rec.ID)
		}
	}
	// Many goroutines, each evaluating every expression on every record in its own order.
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for k := range 200 {
				i, j := (g+k)%len(exprs), (g*7+k)%len(recs)
				got, err := progs[i].Match(recs[j], now)
				if err == nil && got != want[exprs[i]][j] {
					err = fmt.Errorf("%s on record %s: got %v", exprs[i], recs[j].ID, got)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
}

// TestMatchLoadsWhatItReaches checks which expressions Match runs with each property read from the
// record as the run reaches it (so that in a && b, b's properties are neither looked up nor
// converted when a is false), and which it runs on an environment filled beforehand: those that
// read $env, and those that read no property. Both give the verdicts of the expression as written
// (TestMatchBuildsWhatItReads).
func TestMatchLoadsWhatItReaches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src  string
		lazy bool
	}{
		{`lifecyclestage != "customer" && hasSuffix(lastname, "0") && daysSince(last_activity_date) > 30`, true},
		{`num_notes > 2 || email_bounced`, true},
		{`any(["a", "b"], {# == firstname}) || lower(email) contains "@example"`, true},
		{`isSet("phone") && id == "1"`, false},
		{`$env.num_notes > 2`, false},
		{`let s = lastname; s == firstname`, true},
	} {
		p, err := triggers.Compile(tc.src, contactsSchema(t))
		require.NoError(t, err, tc.src)
		require.Equal(t, tc.lazy, triggers.LoadsLazily(p), tc.src)
	}
}

// TestReads lists what a record must hold for an expression: the properties it names and those
// isSet asks about by name; everything when it reads $env as a whole. (isSet of a computed name,
// which would need every property, does not compile: see TestSchemaChecks.)
func TestReads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src  string
		want []string
		all  bool
	}{
		{`lifecyclestage == "lead" && daysSince(last_activity_date) > 30`, []string{"last_activity_date", "lifecyclestage"}, false},
		{`isSet("phone") || email != ""`, []string{"email", "phone"}, false},
		{`let s = lifecyclestage; s == "lead" && id != "" && hoursSince(now) < 1`, []string{"lifecyclestage"}, false},
		{`any(["a", "b"], {# == firstname}) || firstname == "c"`, []string{"firstname"}, false},
		{`true`, nil, false},
		{`$env["firstname"] == "Ada"`, nil, true},
		{`isSet("phone") && !isSet("email") && isSet("phone")`, []string{"email", "phone"}, false},
	} {
		p, err := triggers.Compile(tc.src, contactsSchema(t))
		require.NoError(t, err, tc.src)
		props, all := p.Reads()
		require.Equal(t, tc.all, all, tc.src)
		slices.Sort(props)
		require.Equal(t, tc.want, props, tc.src)
		if all {
			continue
		}
		// What Reads names is enough: a record cut down to it decides as the whole record does.
		whole := crm.Record{ID: "9", Properties: map[string]string{"firstname": "Ada", "lifecyclestage": "lead", "phone": "+1 555",
			"email": "a@example.com", "last_activity_date": "2020-01-01T00:00:00.000Z", "lastname": "L"}}
		cut := crm.Record{ID: "9", Properties: map[string]string{}}
		for _, name := range props {
			cut.Properties[name] = whole.Properties[name]
		}
		now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		a, errA := p.Match(whole, now)
		b, errB := p.Match(cut, now)
		require.NoError(t, errA)
		require.NoError(t, errB)
		require.Equal(t, a, b, tc.src)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, want string
		line, col       int
	}{
		{"NotBoolean", `num_notes + 1`, "bool", 1, 1},
		{"UnknownProperty", `favourite_colour == "red"`, "unknown name favourite_colour", 1, 1},
		{"TypeMismatch", `num_notes == "three"`, "mismatched types", 1, 11},
		{"SecondLine", "lifecyclestage == \"lead\" &&\n  email_bounced > 3", "mismatched types", 2, 17},
		{"WallClockDisabled", `now() > last_activity_date`, "", 1, 1},
		{"RepeatDisabled", `len(repeat("x", 1000000000)) > 0`, "", 1, 1},
		{"UnknownType", `fromJSON(email)`, "", 1, 1},
		{"Empty", `   `, "empty", 0, 0},
		// A range with literal bounds too long for a list fails on every record: refused at once.
		{"HugeRangeOfAFloat", `num_notes in 1..1000000000`, "would build a list of 1000000000 elements", 1, 15},
		{"HugeRangeBuilt", `len(-5..1000000000) > 0`, "would build a list of 1000000006 elements", 1, 7},
	}
	for _, tt := range tests {
		_, err := triggers.Compile(tt.src, contactsSchema(t))
		var te *triggers.Error
		require.ErrorAs(t, err, &te, tt.name)
		require.Contains(t, te.Message, tt.want, tt.name)
		if tt.line > 0 {
			require.Equal(t, tt.line, te.Line, tt.name)
		}
		if tt.name == "TypeMismatch" || tt.name == "SecondLine" || strings.HasPrefix(tt.name, "HugeRange") {
			require.Equal(t, tt.col, te.Column, tt.name)
		}
	}
}

func TestBounded(t *testing.T) {
	t.Parallel()
	// Deep nesting within the source limit compiles and runs without exhausting the stack.
	deep := strings.Repeat("(", 5000) + "true" + strings.Repeat(")", 5000)
	p, err := triggers.Compile(deep, contactsSchema(t))
	require.NoError(t, err)
	ok, err := p.Match(crm.Record{}, time.Now())
	require.NoError(t, err)
	require.True(t, ok)
	_, err = triggers.Compile(strings.Repeat("!", 4000)+"true", contactsSchema(t))
	require.ErrorContains(t, err, "exceeds maximum allowed nodes")
	_, err = triggers.Compile(strings.Repeat("(", 20000)+"true"+strings.Repeat(")", 20000), contactsSchema(t))
	require.ErrorContains(t, err, "limit is")
	big := strings.Repeat(`email == "x" || `, 2000) + "true"
	_, err = triggers.Compile(big, contactsSchema(t))
	require.Error(t, err)
	_, err = triggers.Compile(`email == "x" || email == "y"`, contactsSchema(t), triggers.MaxNodes(3))
	require.Error(t, err)
}

func ExampleCompile() {
	schema, _ := crm.StandardSchema(crm.Contacts)
	p, err := triggers.Compile(`lifecyclestage != "customer" && daysSince(last_activity_date) > 730`, schema)
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	stale := crm.Record{ID: "1", Properties: map[string]string{"lifecyclestage": "lead", "last_activity_date": "2023-01-15"}}
	fresh := crm.Record{ID: "2", Properties: map[string]string{"lifecyclestage": "lead", "last_activity_date": "2026-10-01"}}
	a, _ := p.Match(stale, now)
	b, _ := p.Match(fresh, now)
	fmt.Println(a, b)

	_, err = triggers.Compile(`num_notes == "many"`, schema)
	fmt.Println(err)
	// Output:
	// true false
	// 1:11: invalid operation: == (mismatched types float64 and string)
}

// TestSchemaChecks pins the checks of a trigger against its object type's schema: isSet takes the
// quoted name of a property, and an enumeration is compared only with its options. Each error is
// at the argument or the literal at fault, with a "did you mean" and the option's label.
func TestSchemaChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		col       int
		want      string
	}{
		{"IsSetMisspelt", `isSet("emial")`, 7, `isSet("emial"): "emial" is not a property of contacts: did you mean isSet("email")?`},
		{"IsSetUnknown", `isSet("shoe_size_xx")`, 7, `"shoe_size_xx" is not a property of contacts, so it is never set`},
		{"IsSetUnquoted", `num_notes > 1 && isSet(email)`, 24, `isSet takes the property's name in quotes: write isSet("email")`},
		{"IsSetComputed", `isSet(lower("EMAIL"))`, 7, `isSet takes a property's name as a quoted literal`},
		{"EnumCase", `lifecyclestage == "Customer"`, 19, `"Customer" is not an option of lifecyclestage: did you mean "customer" (label "Customer")?`},
		{"EnumReversed", `"Customer" == lifecyclestage`, 1, `did you mean "customer" (label "Customer")?`},
		{"EnumNotEqual", `lifecyclestage != "custmer"`, 19, `"custmer" is not an option of lifecyclestage: did you mean "customer"`},
		{"EnumLabel", `lifecyclestage in ["lead", "Sales Qualified Lead"]`, 28, `did you mean "salesqualifiedlead" (label "Sales Qualified Lead")?`},
		{"EnumNotIn", `lifecyclestage not in ["lead", "vip"]`, 32, `"vip" is not an option of lifecyclestage: compare with one of its values subscriber, lead,`},
		{"EnumThroughEnv", `$env.hs_lead_status == "New"`, 24, `did you mean "new" (label "New")?`},
		{"EnumSecondLine", "email_bounced &&\n  lifecyclestage == \"Lead\"", 21, `did you mean "lead" (label "Lead")?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := triggers.Compile(tt.src, contactsSchema(t))
			var te *triggers.Error
			require.ErrorAs(t, err, &te)
			require.Contains(t, te.Message, tt.want)
			require.Equal(t, tt.col, te.Column)
			require.NotEmpty(t, te.Snippet, "the API shows the snippet of a bulk delete's filter")
		})
	}
	for _, ok := range []string{
		`lifecyclestage == "" || lifecyclestage == "customer" || "lead" == lifecyclestage`,
		`lifecyclestage in ["lead", "subscriber"] && isSet("last_activity_date")`,
		`firstname == "Customer" && lower(lifecyclestage) == "x"`, // not an enumeration; not the property itself
		`any(["Lead"], {# == "Lead"})`,
	} {
		_, err := triggers.Compile(ok, contactsSchema(t))
		require.NoError(t, err, ok)
	}
}

// TestOperatorsAreNotFunctions checks that contains, startsWith, endsWith and matches written as
// functions are refused with the operator form to write instead.
func TestOperatorsAreNotFunctions(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]string{
		`contains(email, "@acme")`:                     `1:1: contains is an operator, not a function: write email contains "@acme"`,
		`email_bounced || contains(lower(email), "x")`: `1:18: contains is an operator, not a function: write lower(email) contains "x"`,
		`startsWith(email, "a")`:                       `1:1: startsWith is an operator, not a function: write email startsWith "a"`,
		`contains(email)`:                              `1:1: contains is an operator, not a function: write x contains "y"`,
	} {
		_, err := triggers.Compile(src, contactsSchema(t))
		require.EqualError(t, err, want, src)
	}
	p, err := triggers.Compile(`email contains "@acme"`, contactsSchema(t))
	require.NoError(t, err)
	ok, err := p.Match(crm.Record{ID: "1", Properties: map[string]string{"email": "ada@acme.example"}}, time.Time{})
	require.NoError(t, err)
	require.True(t, ok)
}
