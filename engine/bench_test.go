package engine_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/engine"
	"github.com/crmflow/crmflow/internal/bench"
	"github.com/crmflow/crmflow/workflows"
)

// BenchmarkDecideOne is the engine's side of the trigger-eval scenario of crmflow bench: the
// decision about existing contacts of ten stored properties each, with a trigger of a stage, a text
// test and a date. It walks CRMFLOW_BENCH_RECORDS records (default 100000) in turn, so that their
// properties are not all in the CPU's caches, as in the scenario.
//
//	go test ./engine -run '^$' -bench DecideOne -benchmem -cpuprofile /tmp/cpu.out
func BenchmarkDecideOne(b *testing.B) {
	n := 100_000
	if v := os.Getenv("CRMFLOW_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("CRMFLOW_BENCH_RECORDS=%q: want a positive number of records", v)
		}
	}
	src := "name: wf\nobject_type: contacts\n" +
		`trigger: lifecyclestage != "customer" && hasSuffix(lastname, "0") && daysSince(last_activity_date) > 30` +
		"\nactions:\n  - type: delete_contact\n"
	wf, err := workflows.Parse("wf.yaml", []byte(src), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	schema, _ := crm.StandardSchema(crm.Contacts)
	recs := make([]crm.Record, n)
	for i := range recs {
		props, err := schema.Normalize(bench.ContactProps(i))
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = crm.Record{ID: crm.RecordID(strconv.Itoa(i + 1)), Type: crm.Contacts, Properties: props}
	}
	b.ReportAllocs()
	b.ResetTimer()
	hits := 0
	for i := 0; b.Loop(); i++ {
		rec := &recs[i%n]
		if v, ok := engine.DecideOne(wf, engine.Change{ID: rec.ID, Existing: true, Record: rec}, nil, now); ok && v.Verdict == crm.VerdictMatch {
			hits++
		}
	}
	if hits == 0 {
		b.Fatal("no record matched")
	}
}
