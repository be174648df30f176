package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// nextPageRE reads the next page's command that bin list and audit print on stderr.
var nextPageRE = regexp.MustCompile(`(?m)^next page: crmflow (.+)$`)

// tableRows returns the rows of a table printed on stdout, without its header, each split into
// its cells (cells hold no run of two spaces).
func tableRows(t *testing.T, stdout, header string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	require.Regexp(t, `^`+header+`$`, lines[0], "stdout:\n%s", stdout)
	var out [][]string
	for _, l := range lines[1:] {
		out = append(out, regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1))
	}
	return out
}

// TestBinCommands drives `crmflow bin list`, `crmflow bin restore`, `crmflow erase` and
// `crmflow audit` against serve and a worker on a redis-server of the test's own: contacts deleted
// through the API are listed with who deleted them, how and by which operation, in pages whose
// printed next command works; a restore brings back two and reports the one whose email a new
// live contact took, naming it; an erase is refused unless confirmed exactly, then leaves no trace
// in the live records or the bin; the audit trail lists all of it.
func TestBinCommands(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	_, token := b.opsTenant(t)
	base := b.serveWithWorker(t)
	ctl := []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=" + token}
	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		stdout, stderr, code := crmflow(t, ctl, args...)
		require.Equal(t, wantCode, code, "crmflow %v\nstdout:\n%s\nstderr:\n%s", args, stdout, stderr)
		return stdout, stderr
	}
	contacts := base + "/crm/v3/objects/contacts"
	status := func(id string, archived bool) int {
		t.Helper()
		code, _ := call(t, http.MethodGet, fmt.Sprintf("%s/%s?archived=%t", contacts, id, archived), token, nil)
		return code
	}

	// Five contacts; Ann, Bob and Cy go to the bin, each by its own DELETE (its own operation).
	var in []map[string]any
	for _, p := range []map[string]string{
		{"firstname": "Ann", "lastname": "Archer", "email": "ann@example.com"},
		{"firstname": "Bob", "email": "bob@example.com"},
		{"email": "cy@example.com"},
		{"firstname": "Dee", "lastname": "Erased", "email": "dee@example.com"},
		{"firstname": "Eve", "email": "eve@example.com"},
	} {
		in = append(in, map[string]any{"properties": p})
	}
	code, body := call(t, http.MethodPost, contacts+"/batch/create", token, map[string]any{"inputs": in})
	require.Equal(t, http.StatusCreated, code, "body: %v", body)
	id := map[string]string{} // email -> id
	for _, r := range body["results"].([]any) {
		rec := r.(map[string]any)
		id[rec["properties"].(map[string]any)["email"].(string)] = rec["id"].(string)
	}
	ann, bob, cy, dee, eve := id["ann@example.com"], id["bob@example.com"], id["cy@example.com"], id["dee@example.com"], id["eve@example.com"]
	for _, x := range []string{ann, bob, cy} {
		code, body := call(t, http.MethodDelete, contacts+"/"+x, token, nil)
		require.Equal(t, http.StatusNoContent, code, "body: %v", body)
	}
	op := map[string]string{} // id -> its archivedOperation, as the API gives it
	code, body = call(t, http.MethodGet, contacts+"?archived=true&limit=100", token, nil)
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	for _, r := range body["results"].([]any) {
		rec := r.(map[string]any)
		require.NotEmpty(t, rec["archivedOperation"], "record: %v", rec)
		op[rec["id"].(string)] = rec["archivedOperation"].(string)
	}
	require.Len(t, op, 3)
	require.NotEqual(t, op[ann], op[bob], "each DELETE is an operation of its own")

	// bin list: every record with its name, who, how and operation.
	stdout, stderr := run(0, "bin", "list", "--type", "contacts")
	rows := tableRows(t, stdout, `ID\s+NAME\s+DELETED\s+BY\s+HOW\s+OPERATION`)
	require.Len(t, rows, 3, "stdout:\n%s", stdout)
	names := map[string]string{ann: "Ann Archer", bob: "Bob", cy: "cy@example.com"}
	for _, r := range rows {
		require.Len(t, r, 6, "row %q", r)
		require.Equal(t, names[r[0]], r[1], "row %q", r)
		require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`, r[2], "row %q", r)
		require.Equal(t, opsUser, r[3], "row %q", r)
		require.Equal(t, "api", r[4], "row %q", r)
		require.Equal(t, op[r[0]], r[5], "row %q", r)
	}
	require.Equal(t, "3 contacts in the recycle bin on this page\n", stderr, "no next page")

	// --operation pages through one operation's records.
	stdout, stderr = run(0, "bin", "list", "--type", "contacts", "--operation", op[bob])
	rows = tableRows(t, stdout, `ID\s+NAME\s+DELETED\s+BY\s+HOW\s+OPERATION`)
	require.Len(t, rows, 1, "stdout:\n%s", stdout)
	require.Equal(t, bob, rows[0][0])
	require.Contains(t, stderr, "1 contact in the recycle bin on this page, deleted by operation "+op[bob])

	// The filters narrow the whole bin, and the next page's command keeps them.
	stdout, stderr = run(0, "bin", "list", "--type", "contacts", "--via", "bulk")
	require.Empty(t, tableRows(t, stdout, `ID\s+NAME\s+DELETED\s+BY\s+HOW\s+OPERATION`))
	require.Equal(t, "0 contacts in the recycle bin on this page match the filters\n", stderr)
	stdout, stderr = run(0, "bin", "list", "--type", "contacts", "--by", strings.ToUpper(opsUser), "--via", "api", "--since", "2000-01-01", "--limit", "2")
	require.Len(t, tableRows(t, stdout, `ID\s+NAME\s+DELETED\s+BY\s+HOW\s+OPERATION`), 2, "stdout:\n%s", stdout)
	m := nextPageRE.FindStringSubmatch(stderr)
	require.NotNil(t, m, stderr)
	require.Regexp(t, `--by \S+ --via api --since 2000-01-01 --after \S+$`, m[1])
	stdout, _ = run(0, strings.Fields(m[1])...)
	require.Len(t, tableRows(t, stdout, `ID\s+NAME\s+DELETED\s+BY\s+HOW\s+OPERATION`), 1, "stdout:\n%s", stdout)
	_, stderr = run(exitUsage, "bin", "list", "--type", "contacts", "--until", "soon")
	require.Contains(t, stderr, `--until "soon" is not a time`)
	// A standard type written singular is named.
	_, stderr = run(1, "bin", "list", "--type", "contact")
	require.Contains(t, stderr, "--type contact: did you mean --type contacts?")
	_, stderr = run(1, "bin", "restore", "--type", "Company", "1")
	require.Contains(t, stderr, "--type Company: did you mean --type companies?")
	_, stderr = run(1, "bin", "list", "--type", "widgets")
	require.NotContains(t, stderr, "did you mean")

	// Pages of one: each page's printed next command gives the next page, and they cover the bin.
	args := []string{"bin", "list", "--type", "contacts", "--limit", "1"}
	var paged []string
	for range 4 {
		stdout, stderr = run(0, args...)
		rows = tableRows(t, stdout, `ID\s+NAME\s+DELETED\s+BY\s+HOW\s+OPERATION`)
		require.Len(t, rows, 1, "stdout:\n%s", stdout)
		paged = append(paged, rows[0][0])
		m := nextPageRE.FindStringSubmatch(stderr)
		if m == nil {
			break
		}
		require.Regexp(t, `^bin list --type contacts --limit 1 --after \S+$`, m[1])
		args = strings.Fields(m[1])
	}
	require.ElementsMatch(t, []string{ann, bob, cy}, paged, "every record of the bin once, in %d pages", len(paged))

	// Cy's email is taken meanwhile by a new live contact: the restore brings back Ann and Bob,
	// and reports Cy with the blocking contact, exit code 1.
	code, body = call(t, http.MethodPost, contacts, token, map[string]any{"properties": map[string]string{"email": "cy@example.com"}})
	require.Equal(t, http.StatusCreated, code, "body: %v", body)
	blocker := body["id"].(string)
	stdout, stderr = run(1, "bin", "restore", "--type", "contacts", ann, cy, bob)
	require.Equal(t, ann+"\n"+bob+"\n", stdout)
	require.Regexp(t, `(?m)^not restored: contacts `+cy+`: its email cy@example.com now belongs to the live contact `+blocker+
		`.*; blocking record: contacts `+blocker+`$`, stderr)
	require.Contains(t, stderr, "2 of 3 contacts restored, 1 not restored")
	require.Equal(t, http.StatusOK, status(ann, false))
	require.Equal(t, http.StatusOK, status(bob, false))
	require.Equal(t, http.StatusOK, status(cy, true), "Cy stays in the bin")
	// Restoring one that is live again: not in the bin, exit 1; --ids works as the arguments do.
	stdout, stderr = run(1, "bin", "restore", "--type", "contacts", "--ids", ann)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "not restored: contacts "+ann+": not in the recycle bin")
	// More ids than one batch request takes (100): sent in two batches, each id reported.
	var many []string
	for i := range 101 {
		many = append(many, fmt.Sprint(900000+i))
	}
	stdout, stderr = run(1, append([]string{"bin", "restore", "--type", "contacts"}, many...)...)
	require.Empty(t, stdout)
	require.Equal(t, 101, strings.Count(stderr, ": not in the recycle bin"), "stderr:\n%s", stderr)
	require.Contains(t, stderr, "not restored: contacts 900100: not in the recycle bin")
	require.Contains(t, stderr, "0 of 101 contacts restored, 101 not restored")
	// The blocker gone, Cy comes back: exit 0.
	code, _ = call(t, http.MethodDelete, contacts+"/"+blocker, token, nil)
	require.Equal(t, http.StatusNoContent, code)
	stdout, stderr = run(0, "bin", "restore", "--type", "contacts", "--ids", cy)
	require.Equal(t, cy+"\n", stdout)
	require.Equal(t, "1 of 1 contacts restored\n", stderr)

	// erase without --confirm, or with another value: refused, and Dee is still there.
	_, stderr = run(exitUsage, "erase", "contacts", dee)
	require.Contains(t, stderr, "--confirm is required")
	require.Contains(t, stderr, "does not go to the recycle bin and cannot be restored")
	require.Contains(t, stderr, "--confirm "+dee)
	_, stderr = run(exitUsage, "erase", "contacts", dee, "--confirm", eve)
	require.Contains(t, stderr, "does not repeat")
	_, stderr = run(exitUsage, "erase", "contacts", "--email", "eve@example.com", "--confirm", "Eve@example.com")
	require.Contains(t, stderr, "does not repeat")
	require.Equal(t, http.StatusOK, status(dee, false))
	require.Equal(t, http.StatusOK, status(eve, false))

	// Confirmed: Dee is gone from the live records and the bin, with the call she had; Eve, deleted
	// to the bin first, is erased by email from there.
	code, body = call(t, http.MethodPost, base+"/crm/v3/objects/calls", token, map[string]any{"properties": map[string]string{"hs_call_body": "Dee called"}})
	require.Equal(t, http.StatusCreated, code, "body: %v", body)
	code, body = call(t, http.MethodPut, fmt.Sprintf("%s/crm/v4/objects/contacts/%s/associations/default/calls/%s", base, dee, body["id"]), token, nil)
	require.Equal(t, http.StatusOK, code, "body: %v", body)
	stdout, _ = run(0, "erase", "contacts", dee, "--confirm", dee)
	require.Equal(t, "erased contact "+dee+" for good, live or from the recycle bin; calls erased with it (shared ones included): 1; "+
		"its emails are blocklisted and a confirmation email goes to the user of the token\n", stdout)
	require.Equal(t, http.StatusNotFound, status(dee, false))
	require.Equal(t, http.StatusNotFound, status(dee, true))
	code, _ = call(t, http.MethodDelete, contacts+"/"+eve, token, nil)
	require.Equal(t, http.StatusNoContent, code)
	stdout, _ = run(0, "erase", "contacts", "--email", "eve@example.com", "--confirm", "eve@example.com")
	require.Contains(t, stdout, "erased for good every contact with the email eve@example.com")
	require.Contains(t, stdout, "calls erased with them (shared ones included): 0;")
	require.Equal(t, http.StatusNotFound, status(eve, true))
	stdout, _ = run(0, "bin", "list", "--type", "contacts")
	require.NotContains(t, stdout, "Eve")
	// An id that is no contact: a clear error, exit 1.
	_, stderr = run(1, "erase", "contacts", dee, "--confirm", dee)
	require.Contains(t, stderr, "there is no contact "+dee+", live or in the recycle bin, so nothing was erased")
	require.Contains(t, stderr, "erase by --email")
	require.Equal(t, 1, strings.Count(stderr, "there is no contact"), "said once: %s", stderr)
	require.Contains(t, stderr, "404")

	// audit: the deletions, the restores and the permanent deletes, oldest first.
	const auditHeader = `AT\s+ACTION\s+TYPE\s+COUNT/IDS\s+ACTOR\s+VIA\s+REF`
	stdout, stderr = run(0, "audit")
	rows = tableRows(t, stdout, auditHeader)
	var seen []string
	for _, r := range rows {
		require.Len(t, r, 7, "row %q", r)
		if r[1] == "archive" || r[1] == "restore" || r[1] == "permanent_delete" {
			seen = append(seen, r[1]+" "+r[3])
			require.Equal(t, "contacts", r[2], "row %q", r)
			require.Equal(t, opsUser, r[4], "row %q", r)
			require.Equal(t, "api", r[5], "row %q", r)
		}
	}
	require.Equal(t, []string{
		"archive " + ann, "archive " + bob, "archive " + cy, "restore " + ann + "," + bob, "archive " + blocker,
		"restore " + cy, "permanent_delete " + dee + " (1 call erased)", "archive " + eve, "permanent_delete " + eve,
	}, seen, "stdout:\n%s", stdout)
	require.Contains(t, stderr, "audit entries on this page, oldest first")
	require.NotContains(t, stderr, "next page")

	stdout, stderr = run(0, "audit", "--action", "permanent_delete")
	rows = tableRows(t, stdout, auditHeader)
	require.Len(t, rows, 2, "stdout:\n%s", stdout)
	require.Equal(t, []string{dee + " (1 call erased)", eve}, []string{rows[0][3], rows[1][3]})
	require.Contains(t, stderr, "2 audit entries that match the filters on this page, oldest first")
	stdout, _ = run(0, "audit", "--by", "nobody@example.com")
	require.Empty(t, tableRows(t, stdout, auditHeader))

	// --newest: the newest entries first, a page at a time.
	stdout, stderr = run(0, "audit", "--newest", "--limit", "2", "--action", "archive,permanent_delete")
	rows = tableRows(t, stdout, auditHeader)
	require.Len(t, rows, 2, "stdout:\n%s", stdout)
	require.Equal(t, []string{"permanent_delete " + eve, "archive " + eve}, []string{rows[0][1] + " " + rows[0][3], rows[1][1] + " " + rows[1][3]})
	require.Contains(t, stderr, "newest first")
	m = nextPageRE.FindStringSubmatch(stderr)
	require.NotNil(t, m, "stderr:\n%s", stderr)
	require.Regexp(t, `^audit --limit 2 --newest --action archive,permanent_delete --after \S+$`, m[1])
	stdout, _ = run(0, strings.Fields(m[1])...)
	rows = tableRows(t, stdout, auditHeader)
	require.Equal(t, []string{"permanent_delete " + dee + " (1 call erased)", "archive " + blocker}, []string{rows[0][1] + " " + rows[0][3], rows[1][1] + " " + rows[1][3]})

	// Paging the trail oldest first, filtered: the pages hold only restores, the filter kept.
	stdout, stderr = run(0, "audit", "--limit", "1", "--action", "restore")
	rows = tableRows(t, stdout, auditHeader)
	require.Len(t, rows, 1, "stdout:\n%s", stdout)
	require.Equal(t, ann+","+bob, rows[0][3])
	m = nextPageRE.FindStringSubmatch(stderr)
	require.NotNil(t, m, "stderr:\n%s", stderr)
	require.Regexp(t, `^audit --limit 1 --action restore --after \S+$`, m[1])
	stdout, _ = run(0, strings.Fields(m[1])...)
	rows = tableRows(t, stdout, auditHeader)
	require.Len(t, rows, 1, "stdout:\n%s", stdout)
	require.Equal(t, cy, rows[0][3])
}

// TestBinCommandsUsageErrors checks that every bad command line of bin, erase and audit is a
// usage error that says what is wrong, before any call to the API (there is none to answer).
func TestBinCommandsUsageErrors(t *testing.T) {
	t.Parallel()
	ctl := []string{"CRMFLOW_URL=http://" + freeAddr(t), "CRMFLOW_TOKEN=t"}
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		stderr []string
	}{
		{"ListWithoutType", ctl, []string{"bin", "list"}, []string{"--type is required", "contacts, companies, deals, tickets, calls"}},
		{"ListLimitZero", ctl, []string{"bin", "list", "--type", "contacts", "--limit", "0"}, []string{"--limit 0 is out of range: use 1 to 100"}},
		{"ListLimitOver", ctl, []string{"bin", "list", "--type", "contacts", "--limit", "101"}, []string{"--limit 101 is out of range"}},
		{"ListEmptyOperation", ctl, []string{"bin", "list", "--type", "contacts", "--operation", " "}, []string{"--operation is empty"}},
		{"ListBadVia", ctl, []string{"bin", "list", "--type", "contacts", "--via", "email"},
			[]string{`--via "email" is not a way records are deleted: use one of api, bulk, list, workflow`}},
		{"ListBadSince", ctl, []string{"bin", "list", "--type", "contacts", "--since", "yesterday"}, []string{`--since "yesterday" is not a time`}},
		{"ListSinceNotBeforeUntil", ctl, []string{"bin", "list", "--type", "contacts", "--since", "2026-03-02", "--until", "2026-03-01"},
			[]string{"--since 2026-03-02 is not before --until 2026-03-01"}},
		{"OperationsBadKind", ctl, []string{"operations", "list", "--kind", "purge"},
			[]string{`--kind "purge" is not a kind of operation: use one of delete, batch, bulk, list, workflow`}},
		{"OperationsBadFrom", ctl, []string{"operations", "list", "--from", "yesterday"}, []string{`--from "yesterday" is not a time`}},
		{"OperationsBadTo", ctl, []string{"operations", "list", "--to", "soon"}, []string{`--to "soon" is not a time`}},
		{"ListPositional", ctl, []string{"bin", "list", "--type", "contacts", "extra"}, []string{"takes no arguments"}},
		{"ListWithoutToken", nil, []string{"bin", "list", "--type", "contacts"}, []string{"set CRMFLOW_TOKEN"}},
		{"BinUnknownSubcommand", ctl, []string{"bin", "empty"}, []string{`unknown command "empty"`}},
		{"RestoreWithoutType", ctl, []string{"bin", "restore", "1"}, []string{"--type is required"}},
		{"RestoreNoIDs", ctl, []string{"bin", "restore", "--type", "contacts"}, []string{"give the ids of the records to restore"}},
		{"RestoreNonNumeric", ctl, []string{"bin", "restore", "--type", "contacts", "12", "abc"}, []string{`id "abc" is not a record id`}},
		{"RestoreDuplicates", ctl, []string{"bin", "restore", "--type", "contacts", "12", "13", "12", "14", "13"},
			[]string{"ids 12, 13 given more than once"}},
		{"RestoreDuplicatesInIDs", ctl, []string{"bin", "restore", "--type", "contacts", "--ids", "7,7"}, []string{": id 7 given more than once"}},
		{"RestoreEmptyInIDs", ctl, []string{"bin", "restore", "--type", "contacts", "--ids", "1,,2"}, []string{"an id is empty"}},
		{"RestoreArgsAndIDs", ctl, []string{"bin", "restore", "--type", "contacts", "--ids", "1", "2"}, []string{"not both"}},
		{"RestoreWithoutToken", nil, []string{"bin", "restore", "--type", "contacts", "1"}, []string{"set CRMFLOW_TOKEN"}},
		{"EraseNothing", ctl, []string{"erase"}, []string{"needs the object type, contacts"}},
		{"EraseCompanies", ctl, []string{"erase", "companies", "5", "--confirm", "5"}, []string{`only contacts can be erased, not "companies"`, "crmflow delete"}},
		{"EraseIDFirst", ctl, []string{"erase", "5", "--confirm", "5"}, []string{"name the object type first: crmflow erase contacts 5"}},
		{"EraseNoContact", ctl, []string{"erase", "contacts", "--confirm", "5"}, []string{"give the contact to erase"}},
		{"EraseIDAndEmail", ctl, []string{"erase", "contacts", "5", "--email", "a@example.com", "--confirm", "5"}, []string{"not both"}},
		{"EraseExtra", ctl, []string{"erase", "contacts", "5", "6", "--confirm", "5"}, []string{"erases one contact"}},
		{"EraseEmailAsID", ctl, []string{"erase", "contacts", "a@example.com", "--confirm", "a@example.com"}, []string{"is an email, not an id", "--email"}},
		{"EraseBadID", ctl, []string{"erase", "contacts", "x5", "--confirm", "x5"}, []string{`"x5" is not a contact id`}},
		{"EraseBadEmail", ctl, []string{"erase", "contacts", "--email", "nobody", "--confirm", "nobody"}, []string{`--email "nobody" is not an email address`}},
		{"EraseWithoutConfirm", ctl, []string{"erase", "contacts", "5"},
			[]string{"--confirm is required", "does not go to the recycle bin and cannot be restored", "blocklisted", "confirmation email", "--confirm 5"}},
		{"EraseWrongConfirm", ctl, []string{"erase", "contacts", "--email", "a@example.com", "--confirm", "b@example.com"},
			[]string{"does not repeat", "nothing was erased", "cannot be restored", "--confirm a@example.com"}},
		{"EraseWithoutToken", nil, []string{"erase", "contacts", "5", "--confirm", "5"}, []string{"set CRMFLOW_TOKEN"}},
		{"AuditLimitZero", ctl, []string{"audit", "--limit", "0"}, []string{"--limit 0 is out of range: use 1 to 1000"}},
		{"AuditLimitOver", ctl, []string{"audit", "--limit", "1001"}, []string{"--limit 1001 is out of range"}},
		{"AuditUnknownAction", ctl, []string{"audit", "--action", "archive,deleted"}, []string{`--action "deleted" is unknown`, "permanent_delete"}},
		{"AuditEmptyBy", ctl, []string{"audit", "--by", ""}, []string{"--by is empty"}},
		{"AuditPositional", ctl, []string{"audit", "archive"}, []string{"takes no arguments"}},
		{"AuditBadURL", []string{"CRMFLOW_URL=ftp://x", "CRMFLOW_TOKEN=t"}, []string{"audit"}, []string{"is not an http(s) URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := crmflow(t, tc.env, tc.args...)
			require.Equal(t, exitUsage, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			require.Empty(t, stdout)
			for _, s := range tc.stderr {
				require.Contains(t, stderr, s)
			}
		})
	}
}

// TestAuditEntryWhat: the COUNT/IDS cell of crmflow audit names the property of a change of the
// data model, and for a property_update the fields it changed and how many options came and went;
// for a permanent_delete, how many calls were erased with the contact.
func TestAuditEntryWhat(t *testing.T) {
	t.Parallel()
	two, one, zero := 2, 1, 0
	var erasure auditEntryView // as the API answers it
	require.NoError(t, json.Unmarshal([]byte(`{"action":"permanent_delete","objectType":"contacts","recordIds":["7"],"count":1,"callsErased":2}`), &erasure))
	for _, tc := range []struct {
		e    auditEntryView
		want string
	}{
		{auditEntryView{Action: "property_create", Property: "size"}, "property size"},
		{auditEntryView{Action: "property_update", Property: "size", Changed: []string{"label", "options", "hidden"}, OptionsAdded: &two, OptionsRemoved: &one},
			"property size changed label,options(+2-1),hidden"},
		{auditEntryView{Action: "property_update", Property: "size", Changed: []string{"options"}, OptionsAdded: &zero, OptionsRemoved: &zero},
			"property size changed options(+0-0)"},
		{auditEntryView{Action: "property_update", Property: "size", Changed: []string{"description"}}, "property size changed description"},
		{auditEntryView{Action: "object_type_create", ObjectType: "pets"}, "-"},
		{auditEntryView{Action: "protection_put", Rule: "vip"}, "rule vip"},
		{erasure, "7 (2 calls erased)"},
		{auditEntryView{Action: "permanent_delete", RecordIDs: []string{"7"}, CallsErased: &zero}, "7"},
		{auditEntryView{Action: "permanent_delete", RecordIDs: []string{"7"}}, "7"},
	} {
		require.Equal(t, tc.want, tc.e.what(), "%+v", tc.e)
	}
}
