package api

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPropertyValuesDecodeAsJSONDoes: a property value decodes to what encoding/json makes of the
// same JSON string, whether the plain path takes it (no escape, valid UTF-8) or not.
func TestPropertyValuesDecodeAsJSONDoes(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{`""`, `"Ada"`, `"Malmö"`, `"a\"b"`, `"a\\b"`, `"line\nbreak"`, `"\u00e9\ud83d\ude00"`,
		`"tab	in"`, "\"bad\xffutf8\"", `"<&>"`, "\"\x7f\""} {
		var want string
		wantErr := json.Unmarshal([]byte(raw), &want)
		var got propertyValues
		err := got.UnmarshalJSON([]byte(`{"p":` + raw + `}`))
		if wantErr != nil {
			require.Error(t, err, "%q", raw)
			continue
		}
		require.NoError(t, err, "%q", raw)
		require.Equal(t, want, got["p"], "%q", raw)
	}
}

// FuzzPlainJSONString: whenever the plain path takes a JSON string, encoding/json decodes it to the
// same value.
func FuzzPlainJSONString(f *testing.F) {
	for _, s := range []string{`"x"`, `"a\"b"`, "\"\xff\"", `"é"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		s, ok := plainJSONString(v)
		if !ok {
			return
		}
		var want string
		require.NoError(t, json.Unmarshal(v, &want))
		require.Equal(t, want, s)
	})
}
