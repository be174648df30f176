package triggers_test

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
)

var sandboxNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// sandboxRecord is a small contact.
func sandboxRecord() crm.Record {
	return crm.Record{ID: "7", Type: crm.Contacts, Properties: map[string]string{
		"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace", "company": "a,b,c",
		"num_notes": "3", "email_bounced": "false", "last_activity_date": "2026-05-01T00:00:00.000Z",
		"lifecyclestage": "lead",
	}}
}

// bigRecord is a contact whose firstname and lastname are two equal strings of 1 MiB (held apart,
// so comparing them reads them whole), whose company lists 3,000 names, and whose jobtitle is 1.5
// MB of JSON.
func bigRecord() crm.Record {
	big := strings.Repeat("x", 1<<20)
	return crm.Record{ID: "8", Type: crm.Contacts, Properties: map[string]string{
		"email": "big@example.com", "firstname": big, "lastname": strings.Clone(big),
		"company": strings.Repeat("a,", 3000) + "a", "num_notes": "3",
		"jobtitle": "[" + strings.Repeat("[],", 500_000) + "[]]",
	}}
}

// TestSandboxRefusesSideEffects checks that nothing reachable from a trigger can do I/O, read the
// environment or the system, sleep or change state: every attempt below is refused at compile time,
// with a message that names what is wrong, at its position.
func TestSandboxRefusesSideEffects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src, want string
	}{
		// Methods: time.Time.Local reads TZ and /etc/localtime; no method is callable or reachable.
		{"MethodOnDatetime", `last_activity_date.Local().Year() > 2000`, "calling a method"},
		{"MethodOnNow", `now.Add(1) > now`, "calling a method (Add)"},
		{"MethodOnString", `email.Len() > 0`, "calling a method (Len)"},
		{"MethodInAClosure", `any([now], #.Local() == now)`, "calling a method (Local)"},
		{"MethodValue", `now.Local != nil`, "has no members"},
		{"MethodByIndex", `now["Local"] != nil`, "has no members"},
		{"MethodByGet", `get(now, "Local") != nil`, "does not support indexing"},
		{"MethodOfDuration", `duration("1h").Hours != nil`, "has no members"},
		{"FieldOfDatetime", `last_activity_date.wall > 0`, "has no field wall"},
		// Only the helpers' names can be called: no value (a method's, taken through a list or a
		// variable) ever is.
		{"CallOfAnElement", `[isSet][0]("email")`, "unexpected token"},
		{"CallOfThePointer", `any([isSet], #("email"))`, "unexpected token"},
		{"CallOfACallsResult", `daysSince(now)(1) > 0`, "unexpected token"},
		{"CallOfAParenthesizedMethod", `(now.Local)() == now`, "unexpected token"},
		{"CallOfAVariable", `let f = isSet; f("email")`, "f is a variable"},
		{"CallOfAMethodValue", `let f = get([now][0], "Local"); f() == now`, "f is a variable"},
		{"VariableShadowingAHelper", `let isSet = get([now][0], "Local"); isSet() == now`, "isSet is a helper"},
		// Functions that do not exist.
		{"Exec", `exec("ls") == ""`, "unknown name exec"},
		{"Getenv", `getenv("HOME") != ""`, "unknown name getenv"},
		{"OsPackage", `os.Getenv("HOME") != ""`, "calling a method (Getenv)"},
		{"Sleep", `sleep(1000) == nil`, "unknown name sleep"},
		{"ReadFile", `readFile("/etc/passwd") != ""`, "unknown name readFile"},
		{"HTTP", `http.Get("http://example.com") != nil`, "calling a method (Get)"},
		{"PipeIntoUnknown", `(email | exec()) == ""`, "unknown name exec"},
		{"Eval", `eval("1 + 1") == 2`, "unknown name eval"},
		// Builtins with a side effect or a read of the system.
		{"WallClock", `now() > last_activity_date`, "now is not available in a trigger: now() reads the wall clock"},
		{"Repeat", `repeat("x", 3) == "xxx"`, "repeat is not available in a trigger"},
		{"Timezone", `timezone("Europe/Paris") != nil`, "timezone is not available in a trigger"},
		{"DateInAZone", `date("2024-01-01", "2006-01-02", "Europe/Paris") > now`, "date() takes no time zone in a trigger"},
		// The environment as a whole, and names computed at run time.
		{"Env", `len($env) > 0`, "$env can only be read at a property's name written out"},
		{"EnvKeys", `"email" in keys($env)`, "$env can only be read"},
		{"EnvComputedName", `$env[lower("EMAIL")] == ""`, "$env can only be read"},
		{"EnvReservedName", `$env["$meter"] != nil`, "$env can only be read"},
		{"EnvThroughGet", `get($env, "email") == ""`, "$env can only be read"},
		{"EnvHelperCalled", `$env.isSet("email")`, "calling a method (isSet)"},
		{"ReservedName", `$meter != nil`, "names starting with $ are reserved"},
		// A regular expression compiled at run time from a record's value.
		{"DynamicPattern", `email matches firstname`, "the pattern of matches must be a literal string"},
		// A pattern whose matching costs its size for every byte, and whose compiling costs its size.
		{"HugePattern", `email matches "` + strings.Repeat("x{1000}", 11) + `"`, "the patterns of matches are too complex"},
		{"ManyPatterns", strings.Repeat(`email matches "`+strings.Repeat("x{1000}", 4)+`" || `, 3) + "false", "the patterns of matches are too complex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := triggers.Compile(tc.src, contactsSchema(t))
			require.Nil(t, p)
			var te *triggers.Error
			require.ErrorAs(t, err, &te)
			require.Contains(t, te.Message, tc.want)
			require.Positive(t, te.Line, "the error has a position")
			require.Positive(t, te.Column)
		})
	}
}

// TestSandboxAllowsReadingTheEnvByName checks that $env.name and $env["name"] read a property as its
// name does.
func TestSandboxAllowsReadingTheEnvByName(t *testing.T) {
	t.Parallel()
	for _, src := range []string{`$env.email == email`, `$env["num_notes"] == 3`, `isSet("email") && $env.lifecyclestage == "lead"`} {
		p, err := triggers.Compile(src, contactsSchema(t))
		require.NoError(t, err, src)
		ok, err := p.Match(sandboxRecord(), sandboxNow)
		require.NoError(t, err, src)
		require.True(t, ok, src)
	}
}

// TestSandboxClassifiesEveryBuiltin checks that every builtin of expr is either refused (those
// with a side effect) or available, metered as needed: a builtin that a later version of expr adds
// is refused until the sandbox classifies it, which fails this test.
func TestSandboxClassifiesEveryBuiltin(t *testing.T) {
	t.Parallel()
	refused := map[string]bool{"now": true, "repeat": true, "timezone": true}
	for _, name := range builtin.Names {
		_, err := triggers.Compile(name+"() == nil", contactsSchema(t))
		if refused[name] {
			require.ErrorContains(t, err, name+" is not available in a trigger", name)
			continue
		}
		if err != nil {
			require.NotContains(t, err.Error(), "is not available in a trigger", "%s is not classified", name)
		}
	}
}

// TestSandboxHelpersChangeNothing checks that evaluating a trigger changes neither the record nor
// the program: the same evaluation twice gives the same answer.
func TestSandboxHelpersChangeNothing(t *testing.T) {
	t.Parallel()
	p, err := triggers.Compile(`isSet("email") && daysSince(last_activity_date) > 1 && hoursSince(now) == 0 && lower(firstname) == "ada"`, contactsSchema(t))
	require.NoError(t, err)
	rec := sandboxRecord()
	before := maps.Clone(rec.Properties)
	for range 2 {
		ok, err := p.Match(rec, sandboxNow)
		require.NoError(t, err)
		require.True(t, ok)
	}
	require.Equal(t, before, rec.Properties)
}

// TestSandboxBoundsTheSource checks that deeply nested and huge expressions are refused before they
// can exhaust the stack: expr's parser, checker and compiler recurse once per level of nesting, a
// Go stack overflow is fatal, and the source length (MaxSourceLen, checked before parsing) bounds
// the depth. Without a node limit, the deepest nestings the source allows compile and run.
func TestSandboxBoundsTheSource(t *testing.T) {
	t.Parallel()
	schema := contactsSchema(t)
	nest := func(open, inner, closing string, depth int) string {
		return strings.Repeat(open, depth) + inner + strings.Repeat(closing, depth)
	}
	depth := func(open, inner, closing string) int {
		return (triggers.MaxSourceLen - len(inner)) / (len(open) + len(closing))
	}
	t.Run("RefusedBeforeParsing", func(t *testing.T) {
		t.Parallel()
		for _, src := range []string{
			nest("(", "true", ")", 100_000),
			strings.Repeat("!", 100_000) + "true",
			"len(" + nest("[", "1", "]", 100_000) + ") > 0",
			`email == "` + strings.Repeat("x", triggers.MaxSourceLen) + `"`,
			strings.Repeat("num_notes + ", 10_000) + "1 > 0",
		} {
			_, err := triggers.Compile(src, schema)
			require.ErrorContains(t, err, fmt.Sprintf("the limit is %d", triggers.MaxSourceLen), src[:20])
		}
	})
	t.Run("RefusedByTheNodeLimit", func(t *testing.T) {
		t.Parallel()
		for _, src := range []string{
			strings.Repeat("!", triggers.MaxSourceLen-4) + "true",
			strings.Repeat("-", triggers.MaxSourceLen-6) + "1 < 0",
			"len(" + nest("[", "1", "]", 8000) + ") > 0",
			"len(" + nest(`{"a": `, "1", "}", 2000) + ") > 0",
			strings.Repeat("num_notes + ", 1300) + "1 > 0",
			strings.Repeat("true ? ", 1000) + "true" + strings.Repeat(" : false", 1000),
			"num_notes in [" + strings.Repeat("1, ", 5000) + "1]",
		} {
			_, err := triggers.Compile(src, schema)
			require.ErrorContains(t, err, "exceeds maximum allowed nodes", src[:20])
		}
	})
	t.Run("DeepestNestingsCompileAndRun", func(t *testing.T) {
		t.Parallel()
		for _, src := range []string{
			nest("(", "true", ")", depth("(", "true", ")")),
			strings.Repeat("!", (triggers.MaxSourceLen-4)&^1) + "true",
			strings.Repeat("- ", (triggers.MaxSourceLen-10)/2) + "1 != 0",
			"len(" + nest("[", "1", "]", depth("[", "len() > 0 1", "]")) + ") > 0",
			"len(" + nest(`{"a": `, "1", "}", depth(`{"a": `, "len() > 0 1", "}")) + ") > 0",
			nest("any([1], ", "true", ")", depth("any([1], ", "true", ")")),
			strings.Repeat("true ? ", 1000) + "true" + strings.Repeat(" : false", 1000),
			strings.Repeat("num_notes + ", 1300) + "1 > 0",
			`email != "` + strings.Repeat("x", triggers.MaxSourceLen-20) + `"`,
		} {
			require.LessOrEqual(t, len(src), triggers.MaxSourceLen)
			p, err := triggers.Compile(src, schema, triggers.MaxNodes(0))
			require.NoError(t, err, src[:20])
			ok, err := p.Match(sandboxRecord(), sandboxNow)
			require.NoError(t, err, src[:20])
			require.True(t, ok, src[:20])
		}
	})
}

// TestSandboxBoundsTheRun checks that an evaluation cannot exhaust a worker's memory or stall it:
// ranges, loops (nested or not), strings grown in closures or variables, builtins whose output
// outgrows their input, and MB-size values worked on in loops are each stopped at run time, by
// expr's memory budget (lists) or the evaluation's budget (EvalBudget), with an error: the record
// counts as not matching. Run to completion, most of them would exhaust the memory of any machine
// (a fatal error, which no recover catches) or run for hours: that the test binary survives them
// is part of the proof.
// Ranges end at a bound computed from the record: validation refuses a literal range too long
// for a list (TestCompileErrors), so only a computed one reaches the run.
func TestSandboxBoundsTheRun(t *testing.T) {
	t.Parallel()
	const (
		memory = "memory budget exceeded" // expr's budget of list elements
		budget = "evaluation budget"      // EvalBudget
		nested = "nests more than"
	)
	doubling := "let s0 = email; "
	for i := 1; i <= 40; i++ {
		doubling += fmt.Sprintf("let s%d = s%d + s%d; ", i, i-1, i-1)
	}
	doubling += "len(s40) > 0"
	replaces := "email"
	for range 8 {
		replaces = "replace(" + replaces + `, "", email)`
	}
	for _, tc := range []struct {
		name, src string
		big       bool // on bigRecord, else sandboxRecord
		want      string
	}{
		{"RangeOfABillion", `len(1..(1000000000 + int(num_notes))) > 0`, false, memory},
		{"MapOverABillion", `len(map(1..(1000000000 + int(num_notes)), # * 2)) > 0`, false, memory},
		{"FilterOverABillion", `len(filter(1..(1000000000 + int(num_notes)), # % 2 == 0)) > 0`, false, memory},
		{"ReduceOverABillion", `reduce(1..(1000000000 + int(num_notes)), #acc + #, 0) > 0`, false, memory},
		{"SumOfABillion", `sum(1..(1000000000 + int(num_notes))) > 0`, false, memory},
		{"ListsBuiltInALoop", `any(1..1000, len(1..1000) == 0)`, false, memory},
		{"NestedLoops", `let l = 1..1000; any(l, any(l, any(l, # < 0)))`, false, budget},
		{"LongLoop", `any(1..999999, # < 0)`, false, budget},
		{"DoublingInAClosure", `len(reduce(1..64, #acc + #acc, email)) > 0`, false, budget},
		{"DoublingInVariables", doubling, false, budget},
		{"QuadraticConcatenation", `len(reduce(1..100000, #acc + "xxxxxxxx", "")) > 0`, false, budget},
		{"ReplaceSquares", replaces + ` != ""`, false, budget},
		{"ReplaceOfAHugeValue", `len(replace(firstname, "", firstname)) > 0`, true, budget},
		{"Base64Growth", `len(reduce(1..60, toBase64(#acc), email)) > 0`, false, budget},
		{"JoinOfCopies", `len(join(map(1..100000, firstname))) > 0`, true, budget},
		{"StringOfCopies", `len(string(map(1..100000, firstname))) > 0`, true, budget},
		{"ToJSONOfCopies", `len(toJSON(map(1..100000, firstname))) > 0`, true, budget},
		{"SortOfCopies", `len(sort(map(1..100000, firstname))) > 0`, true, budget},
		{"Uniq", `len(uniq(1..100000)) > 0`, false, budget},
		{"LowerInALoop", `any(1..1000, lower(firstname) == "")`, true, budget},
		{"CompareInALoop", `any(1..1000, firstname == lastname && # < 0)`, true, budget},
		{"OrderInALoop", `any(1..1000, firstname < lastname)`, true, budget},
		{"ConcatenateInALoop", `any(1..1000, len(firstname + "y") == 0)`, true, budget},
		{"ContainsInALoop", `any(1..1000, firstname contains "y")`, true, budget},
		{"StartsWithInALoop", `any(1..1000, firstname startsWith lastname + "y")`, true, budget},
		{"KeyInALoop", `let m = {"a": 1}; any(1..1000, m[firstname] == 2)`, true, budget},
		{"GetInALoop", `any(1..1000, get({"a": 1}, firstname) == 2)`, true, budget},
		{"InInALoop", `any(1..1000, firstname in [lastname + "y", company])`, true, budget},
		{"MatchesInALoop", `any(1..1000, firstname matches "^(a|b|x)*c$")`, true, budget},
		{"SplitOfAHugeValue", `any(1..1000, len(split(firstname, "")) == 0)`, true, budget},
		{"HasPrefixInALoop", `any(1..1000, hasPrefix(firstname, lastname + "y"))`, true, budget},
		{"GroupByHugeKeys", `len(groupBy(1..100000, firstname)) > 0`, true, budget},
		{"SortByHugeKeys", `len(sortBy(1..100000, firstname)) > 0`, true, budget},
		{"LoopOverAHugeValue", `any(split(company, ","), lower(company) == #)`, true, budget},
		{"FromJSONOfAHugeValue", `len(fromJSON(jobtitle)) > 0`, true, budget},
		{"DeepValueFormatted", `let d = reduce(1..10000, [#acc], []); len(string(d)) > 0`, false, nested},
		{"DeepValuesCompared", `reduce(1..10000, [#acc], []) == reduce(1..10000, [#acc], [])`, false, nested},
		{"DeepValueFlattened", `len(flatten(reduce(1..10000, [#acc], []))) > 0`, false, nested},
		{"DeepValueAsJSON", `len(toJSON(reduce(1..10000, [#acc], []))) > 0`, false, nested},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := triggers.Compile(tc.src, contactsSchema(t))
			require.NoError(t, err)
			rec := sandboxRecord()
			if tc.big {
				rec = bigRecord()
			}
			ok, err := p.Match(rec, sandboxNow)
			require.False(t, ok)
			require.ErrorContains(t, err, tc.want)
			if tc.want == budget {
				require.ErrorIs(t, err, triggers.ErrBudgetExceeded)
			}
			require.Less(t, len(err.Error()), 3*len(tc.src)+1024, "the error names the trigger and the position, not the values")
		})
	}
}

// TestSandboxHugeRecords checks that records with thousands of properties and MB-size values are
// evaluated (an expression pays only for what it does with them) and that what would read or copy
// too much of them is stopped. A run-time error that would quote a huge value keeps its position but
// not its text.
func TestSandboxHugeRecords(t *testing.T) {
	t.Parallel()
	schema := crm.Schema{Type: "widgets", Properties: map[string]crm.Property{
		"notes": {Name: "notes", Type: crm.TypeString},
		"score": {Name: "score", Type: crm.TypeNumber},
	}}
	rec := crm.Record{ID: "1", Type: "widgets", Properties: map[string]string{
		"notes": strings.Repeat("lorem ipsum ", 700_000) + "needle", // 8.4 MB
		"score": "12",
	}}
	for i := range 5000 {
		name := fmt.Sprintf("p%04d", i)
		schema.Properties[name] = crm.Property{Name: name, Type: crm.TypeString}
		rec.Properties[name] = strings.Repeat(string(rune('a'+i%26)), 1000)
	}
	for _, tc := range []struct {
		src  string
		want bool
		err  string
	}{
		{`p0001 == "x" || score > 10`, true, ""},
		{`len(notes) > 8000000 && isSet("p4999")`, true, ""},
		{`notes endsWith "needle" && hasSuffix(notes, "needle")`, true, ""},
		{`notes contains "needle"`, true, ""},
		{`lower(notes) contains "needle"`, false, "evaluation budget"},
		{`notes == p0001 + p0002`, false, ""},
		{`int(notes) > 0`, false, "int() of a string of 8400006 bytes"},
		{`fromJSON("null")[notes] == 1`, false, "the run-time error's message (8400030 bytes) is left out"},
		{`len(split(notes, " ")) > 0`, false, "evaluation budget"},
	} {
		p, err := triggers.Compile(tc.src, schema)
		require.NoError(t, err, tc.src)
		for _, run := range []func() (bool, error){
			func() (bool, error) { return p.Match(rec, sandboxNow) },
			func() (bool, error) { return p.Run(p.NewEnv(rec, sandboxNow)) },
		} {
			ok, err := run()
			require.Equal(t, tc.want, ok, tc.src)
			if tc.err == "" {
				require.NoError(t, err, tc.src)
				continue
			}
			require.ErrorContains(t, err, tc.err, tc.src)
			require.NotContains(t, err.Error(), "lorem ipsum lorem", "no value is quoted")
			require.Less(t, len(err.Error()), 1024)
		}
	}
}

// TestSandboxBudgetIsPerEvaluation checks that every evaluation has a budget of its own: a record
// that exhausts it leaves the next evaluation, on any goroutine, its whole budget.
func TestSandboxBudgetIsPerEvaluation(t *testing.T) {
	t.Parallel()
	p, err := triggers.Compile(`any(split(company, ","), lower(company) == #)`, contactsSchema(t))
	require.NoError(t, err)
	heavy, light := bigRecord(), sandboxRecord()
	light.Properties["company"] = strings.Repeat("a,", 500) + "A" // about 4,000 units per step, 500 steps
	errs := make(chan error, 4*6)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for k := range 6 {
				if (g+k)%2 == 0 {
					_, err := p.Match(heavy, sandboxNow)
					if !errors.Is(err, triggers.ErrBudgetExceeded) {
						errs <- fmt.Errorf("heavy record: %w", err)
					}
					continue
				}
				if ok, err := p.Match(light, sandboxNow); err != nil || ok {
					errs <- fmt.Errorf("light record: %v, %w", ok, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// TestSandboxKeepsResults checks that the metering changes no result: every expression gives the
// same answer as expr itself on the same values.
func TestSandboxKeepsResults(t *testing.T) {
	t.Parallel()
	schema := contactsSchema(t)
	rec := sandboxRecord()
	env := map[string]any{}
	for name, prop := range schema.Properties {
		env[name] = typed(t, prop.Type, rec.Properties[name])
	}
	env["now"] = sandboxNow
	env["id"] = string(rec.ID)
	env["daysSince"] = func(t time.Time) float64 { return sandboxNow.Sub(t).Hours() / 24 }
	env["hoursSince"] = func(t time.Time) float64 { return sandboxNow.Sub(t).Hours() }
	env["isSet"] = func(name string) bool { return rec.Properties[name] != "" }
	for _, src := range []string{
		`lower(email) == "ada@example.com"`,
		`upper(firstname) + "!" == "ADA!"`,
		`trim("  x ") == "x" && trimPrefix(email, "ada@") == "example.com" && trimSuffix(email, ".com") != email`,
		`split(company, ",")[1] == "b" && len(split(company, ",", 2)) == 2 && splitAfter(company, ",")[0] == "a,"`,
		`join(split(company, ","), "-") == "a-b-c" && join(["x", firstname]) == "xAda"`,
		`replace(email, "@", " at ") contains " at " && replace(company, ",", "", 1) == "ab,c"`,
		`indexOf(email, "@") == 3 && lastIndexOf(email, ".") > 3`,
		`hasPrefix(email, lower(firstname)) && hasSuffix(email, "example.com")`,
		`email startsWith lower(firstname) && email endsWith "example.com" && email contains lower(firstname)`,
		`email matches "^[a-z]+@example[.]com$" && email not matches "^x"`,
		`firstname < lastname && lastname >= firstname && firstname + lastname == "AdaLovelace"`,
		`len(filter(split(company, ","), # != "b")) == 2`,
		`map(split(company, ","), upper(#))[0] == "A"`,
		`reduce(1..10, #acc + #, 0) == 55 && sum(1..10) == 55 && sum(map(1..3, # * num_notes)) == 18`,
		`count([true, false, true]) == 2 && count(1..10, # > 5) == 5`,
		`any(split(company, ","), # == "c") && all(1..5, # < 6) && none(1..5, # > 5) && one(1..5, # == 3)`,
		`find(1..10, # > 3) == 4 && findIndex(1..10, # > 3) == 3 && findLast(1..10, # < 3) == 2 && findLastIndex(1..10, # < 3) == 1`,
		`len(groupBy(1..10, # % 3)) == 3 && groupBy(split(company, ","), #)["a"][0] == "a"`,
		`sortBy(split(company, ","), #, "desc")[0] == "c" && sort([3, 1, 2])[0] == 1`,
		`uniq([1, 1, 2]) == [1, 2] && concat([1], [2]) == [1, 2] && flatten([[1], [2, [3]]]) == [1, 2, 3]`,
		`reverse([1, 2]) == [2, 1] && take([1, 2, 3], 2) == [1, 2]`,
		`keys({"a": 1}) == ["a"] && values({"a": 1}) == [1] && toPairs({"a": 1})[0][1] == 1 && fromPairs([["a", 1]]).a == 1`,
		`max(1, 3, 2) == 3 && min([4, 2]) == 2 && mean([1, 2, 3]) == 2 && median([1, 3, 2]) == 2`,
		`abs(-num_notes) == 3 && ceil(1.2) == 2 && floor(1.8) == 1 && round(1.5) == 2`,
		`int("42") == 42 && float("1.5") == 1.5 && string(num_notes) == "3" && string([1, "a"]) == "[1 a]"`,
		`toJSON([1, "a"]) contains "a" && fromJSON("{\"a\": [1, 2]}").a[1] == 2`,
		`toBase64(firstname) == "QWRh" && fromBase64("QWRh") == firstname`,
		`duration("1h") > duration("1m") && date("2024-01-02") < last_activity_date && date("02/01/2024", "02/01/2006") < now`,
		`len(firstname) == 3 && type(firstname) == "string" && first([1, 2]) == 1 && last([1, 2]) == 2`,
		`get({"a": 1}, "a") == 1 && get({"a": 1}, lower("A")) == 1 && {"a": 1}[lower("A")] == 1 && {(lower("A")): 2}.a == 2`,
		`bitand(6, 3) == 2 && bitnot(0) == -1 && bitshl(1, 3) == 8`,
		`firstname in ["Ada", "Bob"] && firstname in split("Ada,Bob", ",") && lower(firstname) in {"ada": true} && firstname not in [lastname]`,
		`now - last_activity_date > duration("1h") && last_activity_date + duration("24h") < now`,
		`daysSince(last_activity_date) > 1 && hoursSince(now) == 0 && isSet("email") && id == "7"`,
		`$env.email == email && $env["num_notes"] == 3`,
		`let x = email; x + x != "" && (if x == "" { false } else { true })`,
		`(email ?? "x") == email && [email, firstname] == [email, firstname] && {"a": email} == {"a": email}`,
		`firstname[0:1] == "A" && firstname[1:] == "da" && split(company, ",")[-1] == "c"`,
		`!email_bounced && not email_bounced && email not contains "zzz" && -num_notes < 0 && num_notes ** 2 == 9`,
		`lifecyclestage == "lead" && lifecyclestage != "customer" && lifecyclestage in ["lead", "subscriber"]`,
	} {
		p, err := triggers.Compile(src, schema)
		require.NoError(t, err, src)
		got, err := p.Match(rec, sandboxNow)
		require.NoError(t, err, src)
		plain, err := expr.Compile(src, expr.Env(env), expr.AsBool())
		require.NoError(t, err, src)
		want, err := expr.Run(plain, env)
		require.NoError(t, err, src)
		require.Equal(t, want, got, src)
		require.True(t, got, "every expression of the table holds: %s", src)
	}
}

func typed(t *testing.T, pt crm.PropertyType, s string) any {
	t.Helper()
	switch pt {
	case crm.TypeNumber:
		var f float64
		_, _ = fmt.Sscan(s, &f)
		return f
	case crm.TypeBool:
		return s == "true"
	case crm.TypeDatetime:
		tm, err := crm.ParseDatetime(s)
		if err != nil {
			return time.Time{}
		}
		return tm
	}
	return s
}

// TestSandboxMeterCannotBeSkipped checks that the compiled program of a metered expression, run
// with expr's machine on an environment without the meter, fails instead of running unmetered.
func TestSandboxMeterCannotBeSkipped(t *testing.T) {
	t.Parallel()
	p, err := triggers.Compile(`lower(firstname) == "ada"`, contactsSchema(t))
	require.NoError(t, err)
	_, err = vm.Run(p.Bytecode(), map[string]any{"firstname": "Ada"})
	require.ErrorContains(t, err, "without its meter")
}
