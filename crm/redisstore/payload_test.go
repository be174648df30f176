package redisstore

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// TestCreatePayloadAsJSONMarshal: the create script's payload, written by hand, decodes to what
// json.Marshal of the same records decodes to, whatever the strings hold.
func TestCreatePayloadAsJSONMarshal(t *testing.T) {
	t.Parallel()
	odd := []string{"", "plain", `quote"d`, `back\slash`, "tab\tline\nbreak\x01", "Malmö 😀", "bad\xffutf8", "<&>", "\u2028", "\x7f"}
	var recs []createJSON
	for i, s := range odd {
		recs = append(recs, createJSON{ID: s, Props: map[string]string{s: s, "email": "a@example.com", "n": "1"},
			Emails: []string{s, "a@example.com"}, Hashes: []string{"h" + s}})
		if i%3 == 0 {
			recs[i].AssocKey = 9 + i
			recs[i].Assoc = []assocJSON{{Member: "companies:" + s, RecordKey: 10 + i, AssocKey: 11 + i}}
		}
	}
	recs = append(recs, createJSON{ID: "1", Props: map[string]string{}, Emails: []string{}, Hashes: []string{}})
	got, err := appendCreatePayload(nil, recs)
	require.NoError(t, err)
	want, err := json.Marshal(recs)
	require.NoError(t, err)
	// Go's decoder turns invalid UTF-8 into U+FFFD, the script's keeps it: the payload must not have any.
	require.True(t, utf8.Valid(got), "%q", got)
	var g, w any
	require.NoError(t, json.Unmarshal(got, &g), "%s", got)
	require.NoError(t, json.Unmarshal(want, &w))
	require.Equal(t, w, g)
}
