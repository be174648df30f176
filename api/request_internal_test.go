package api

import (
	"encoding/json"
	"reflect"
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

// TestPlainPropertyValuesAsTheGeneralPath: the one-pass decoder of property objects gives what the
// general path gives, and leaves to it every object it does not take whole.
func TestPlainPropertyValuesAsTheGeneralPath(t *testing.T) {
	t.Parallel()
	taken := []string{`{}`, ` { } `, `{"a":"x"}`, `{"a": "x", "b" : 12, "c":-0.5e+3, "d":true, "e":false, "f":null}`,
		`{"a":"Malmö","a":"second"}`, "{\n\t\"n\": 0,\r\n\"m\": 1E9 }", `{"a":""}`}
	for _, raw := range taken {
		got, ok := plainPropertyValues([]byte(raw))
		require.True(t, ok, raw)
		want, err := decodePropertyValues([]byte(raw))
		require.NoError(t, err, raw)
		require.Equal(t, want, got, raw)
	}
	left := []string{``, `null`, `[]`, `{"a":"x\"y"}`, `{"a\u0062":"x"}`, `{"a":{}}`, `{"a":[1]}`, `{"a":01}`, `{"a":1.}`,
		`{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":truex}`, `{"a":"x" "b":"y"}`, `{"a":"x",}`, `{"a":"x"} x`, `{"a":"x"`,
		"{\"a\":\"bad\xffutf8\"}", "{\"a\":\"tab\tin\"}", `{"a" "x"}`, `{a:"x"}`}
	for _, raw := range left {
		_, ok := plainPropertyValues([]byte(raw))
		require.False(t, ok, raw)
	}
}

// FuzzPlainPropertyValues: whenever the one-pass decoder takes an object, the general path decodes
// it without error to the same values.
func FuzzPlainPropertyValues(f *testing.F) {
	for _, s := range []string{`{"a":"x","b":1,"c":null}`, `{"a":-1.5e3,"b":true}`, `{"a":"x\"y"}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := plainPropertyValues(b)
		if !ok {
			return
		}
		want, err := decodePropertyValues(b)
		require.NoError(t, err, "%q", b)
		require.Equal(t, want, got, "%q", b)
	})
}

// TestRecordsBatchAsJSONMarshal: a batch of records written by hand is byte for byte what
// json.Marshal writes, whatever the strings hold; a batch of another shape is left to json.Marshal.
func TestRecordsBatchAsJSONMarshal(t *testing.T) {
	t.Parallel()
	odd := []string{"", "plain", `quote"d`, `back\slash`, "tab\tline\nbreak\x01", "Malmö 😀", "bad\xffutf8", "<&>", "a<b", "a>b", "a&b", "\u2028", "\x7f", "z", "A"}
	var recs []recordJSON
	for i, s := range odd {
		recs = append(recs, recordJSON{ID: s, Properties: map[string]string{s: s, "email": "a@example.com", "b": "1", "B": "2"},
			CreatedAt: "2026-01-01T00:00:00.000Z", UpdatedAt: s})
		if i%2 == 0 {
			recs[i].ObjectWriteTraceID = s + "-trace"
		}
	}
	recs = append(recs, recordJSON{ID: "1", Properties: map[string]string{}})
	for _, batch := range []batchJSON[recordJSON]{
		{Status: "COMPLETE", Results: recs, StartedAt: "2026-01-01T00:00:00.000Z", CompletedAt: "<now>"},
		{Status: "COMPLETE", Results: []recordJSON{}},
	} {
		got, ok := appendRecordsBatch(nil, batch)
		require.True(t, ok)
		want, err := json.Marshal(batch)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
	for _, r := range []recordJSON{{ID: "1"}, {ID: "1", Properties: map[string]string{}, Archived: true},
		{ID: "1", Properties: map[string]string{}, ArchivedAt: "x"}, {ID: "1", Properties: map[string]string{}, ArchivedRevision: 2},
		{ID: "1", Properties: map[string]string{}, PropertiesWithHistory: map[string][]valueJSON{}},
		{ID: "1", Properties: map[string]string{}, Associations: associationsJSON{"companies": {}}}} {
		_, ok := appendRecordsBatch(nil, batchJSON[recordJSON]{Results: []recordJSON{r}})
		require.False(t, ok, "%+v", r)
	}
	_, ok := appendRecordsBatch(nil, batchJSON[recordJSON]{Results: recs, NumErrors: 1, Errors: []batchErrorJSON{{Status: "error"}}})
	require.False(t, ok)
	_, ok = appendRecordsBatch(nil, batchJSON[recordJSON]{})
	require.False(t, ok)
}

// TestRecordsBatchKnowsEveryField sets each field of a record, and of the batch, in turn to a value
// that is not its zero: appendRecordsBatch either leaves the batch to json.Marshal or writes what
// json.Marshal writes. A field added to recordJSON or batchJSON that the hand-written encoder does
// not know fails here rather than vanish from answers.
func TestRecordsBatchKnowsEveryField(t *testing.T) {
	t.Parallel()
	base := func() recordJSON {
		return recordJSON{ID: "1", Properties: map[string]string{"email": "a@example.com"}, CreatedAt: "c", UpdatedAt: "u"}
	}
	check := func(t *testing.T, batch batchJSON[recordJSON], what string) {
		t.Helper()
		got, ok := appendRecordsBatch(nil, batch)
		if !ok {
			return
		}
		want, err := json.Marshal(batch)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "with %s set", what)
	}
	rt := reflect.TypeOf(recordJSON{})
	for i := range rt.NumField() {
		r := base()
		setNonZero(t, reflect.ValueOf(&r).Elem().Field(i))
		check(t, batchJSON[recordJSON]{Status: "COMPLETE", Results: []recordJSON{r}}, "record field "+rt.Field(i).Name)
	}
	bt := reflect.TypeOf(batchJSON[recordJSON]{})
	for i := range bt.NumField() {
		b := batchJSON[recordJSON]{Status: "COMPLETE", Results: []recordJSON{base()}}
		setNonZero(t, reflect.ValueOf(&b).Elem().Field(i))
		check(t, b, "batch field "+bt.Field(i).Name)
	}
}

// setNonZero sets v to a value of its type that is not the zero value.
func setNonZero(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(2)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		setNonZero(t, k)
		setNonZero(t, e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		setNonZero(t, s.Index(0))
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		setNonZero(t, p.Elem())
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				setNonZero(t, v.Field(i))
			}
		}
	default:
		t.Fatalf("setNonZero: no value for a %s", v.Type())
	}
}
