package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/crmflow/crmflow/crm"
)

// Paging limits of the list endpoints, and the batch limit, as in HubSpot.
const (
	defaultPageLimit = 10
	maxPageLimit     = 100
	// maxBatchInputs is the most inputs a batch request may carry; one more is a 400.
	maxBatchInputs = 100
)

// decodeJSON reads the body of r, at most maxBytes of it, into dst. Every way a body can be wrong
// is an error that names it: too large (413), not sent in time (408), not UTF-8, empty, null,
// malformed, an unknown field, a value of the wrong type, or data after the JSON value (400).
func decodeJSON(w http.ResponseWriter, r *http.Request, maxBytes int64, dst any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		if re, ok := readError(err, maxBytes); ok {
			return re
		}
		return bodyError(err, maxBytes)
	}
	if err := checkUTF8(raw); err != nil {
		return err
	}
	body := &firstByteReader{r: bytes.NewReader(raw)}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return bodyError(err, maxBytes)
	}
	// One more value (or anything but the end) after the first is an error.
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return trailingError(err, maxBytes)
	}
	// null left dst as it was: a create of nothing, or an update that changes nothing. A valid JSON
	// value that starts with n is null.
	if body.first == 'n' {
		kind := jsonKind(reflect.TypeOf(dst).Elem())
		return errInvalid("body", "INVALID_JSON", "request body is null: send a JSON %s", kind)
	}
	return nil
}

// checkUTF8 is the 400 of a body that is not UTF-8 text, naming the first byte that is not, or of
// one whose strings escape half of a UTF-16 surrogate pair alone ("\ud83d"), or nil. encoding/json
// would read each such byte or escape as U+FFFD, and so store another text than the one sent
// without a word.
func checkUTF8(raw []byte) error {
	if utf8.Valid(raw) {
		return checkSurrogates(raw)
	}
	at := 0
	for at < len(raw) {
		c, size := utf8.DecodeRune(raw[at:])
		if c == utf8.RuneError && size <= 1 {
			break
		}
		at += size
	}
	return errInvalid("body", "INVALID_UTF8", "request body is not valid UTF-8 at byte %d: send text encoded as UTF-8", at)
}

// checkSurrogates is the 400 of the first \u escape of raw (JSON text) that is half of a UTF-16
// surrogate pair alone, or nil. Outside strings a backslash is malformed JSON, which the decoder
// reports; so every backslash read here starts an escape.
func checkSurrogates(raw []byte) error {
	hex := func(at int) (rune, bool) {
		if at+6 > len(raw) || raw[at] != '\\' || raw[at+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(raw[at+2:at+6]), 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		c, ok := hex(i)
		switch {
		case !ok: // another escape: skip the escaped byte (a backslash, say)
			i++
			continue
		case c < 0xD800 || c > 0xDFFF:
			i += 5
			continue
		case c <= 0xDBFF:
			if low, ok := hex(i + 6); ok && low >= 0xDC00 && low <= 0xDFFF {
				i += 11
				continue
			}
		}
		return errInvalid("body", "INVALID_UNICODE",
			"request body escapes half of a UTF-16 surrogate pair alone (%s) at byte %d: escape a character outside the Basic Multilingual Plane as both halves (\\ud83d\\ude00), or send it as UTF-8", raw[i:i+6], i)
	}
	return nil
}

// firstByteReader reads r and keeps the first byte that is not JSON white space, so that the body
// is decoded in one pass.
type firstByteReader struct {
	r     io.Reader
	first byte
}

// Read implements io.Reader.
func (f *firstByteReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.first == 0 {
		for _, c := range p[:n] {
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				f.first = c
				break
			}
		}
	}
	return n, err
}

// propertyValues are the property values of a request. Values may be JSON strings, numbers or
// booleans; each is kept as a string (a number as written). null clears the property ("").
// An object or array is a *crm.ValidationError naming the property.
type propertyValues map[string]string

// UnmarshalJSON implements json.Unmarshaler.
func (p *propertyValues) UnmarshalJSON(b []byte) error {
	out, ok := plainPropertyValues(b)
	if !ok {
		var err error
		if out, err = decodePropertyValues(b); err != nil {
			return err
		}
	}
	*p = out
	return nil
}

// decodePropertyValues is UnmarshalJSON's general path, for any JSON.
func decodePropertyValues(b []byte) (propertyValues, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	out := make(propertyValues, len(raw))
	for name, v := range raw {
		v = bytes.TrimSpace(v)
		switch {
		case len(v) == 0:
			continue
		case v[0] == '"':
			if s, ok := plainJSONString(v); ok {
				out[name] = s
				continue
			}
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("property %q: %w", name, err)
			}
			out[name] = s
		case string(v) == "null":
			out[name] = ""
		case string(v) == "true", string(v) == "false":
			out[name] = string(v)
		case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
			out[name] = string(v)
		default:
			return nil, &crm.ValidationError{Field: name, Code: "INVALID_PROPERTY_VALUE",
				Message: fmt.Sprintf("property %q must be a string, number or boolean, not an object or array", name)}
		}
	}
	return out, nil
}

// plainPropertyValues decodes the JSON object b in one pass when it is of the common shape: names
// and string values that need no decoding (see plainJSONString), numbers, true, false and null,
// as UnmarshalJSON's general path would decode them. ok is false for anything else (an escape, an
// object or array value, or b not such an object at all), and the general path decodes b then.
func plainPropertyValues(b []byte) (out propertyValues, ok bool) {
	i := skipJSONSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	out = make(propertyValues, 16)
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return out, skipJSONSpace(b, i+1) == len(b)
	}
	for {
		end := plainStringEnd(b, i)
		if end < 0 {
			return nil, false
		}
		name, ok := plainJSONString(b[i:end])
		if !ok {
			return nil, false
		}
		i = skipJSONSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = skipJSONSpace(b, i+1)
		if i >= len(b) {
			return nil, false
		}
		switch c := b[i]; {
		case c == '"':
			end = plainStringEnd(b, i)
			if end < 0 {
				return nil, false
			}
			v, ok := plainJSONString(b[i:end])
			if !ok {
				return nil, false
			}
			out[name] = v
		case c == 't' || c == 'f' || c == 'n':
			end = i
			for end < len(b) && b[end] >= 'a' && b[end] <= 'z' {
				end++
			}
			switch lit := string(b[i:end]); lit {
			case "true", "false":
				out[name] = lit
			case "null":
				out[name] = ""
			default:
				return nil, false
			}
		case c == '-' || (c >= '0' && c <= '9'):
			end = jsonNumberEnd(b, i)
			if end < 0 {
				return nil, false
			}
			out[name] = string(b[i:end])
		default:
			return nil, false
		}
		i = skipJSONSpace(b, end)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i = skipJSONSpace(b, i+1)
		case '}':
			return out, skipJSONSpace(b, i+1) == len(b)
		default:
			return nil, false
		}
	}
}

// skipJSONSpace returns the index of the first byte of b from i on that is not JSON white space.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainStringEnd returns the index just after the JSON string that starts at b[i] (its closing
// quote included), or -1 when b[i] is no quote, the string has an escape or it does not end.
func plainStringEnd(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '"':
			return j + 1
		case '\\':
			return -1
		}
	}
	return -1
}

// jsonNumberEnd returns the index just after the JSON number that starts at b[i], or -1 when what
// starts there is not one (the grammar of RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?).
func jsonNumberEnd(b []byte, i int) int {
	digits := func(j int) int {
		k := j
		for k < len(b) && b[k] >= '0' && b[k] <= '9' {
			k++
		}
		return k
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// plainJSONString returns the value of the JSON string v (quotes included) when it needs no
// decoding: no escape, no control character, valid UTF-8, as most property values are; ok is
// false otherwise, and json.Unmarshal decodes it.
func plainJSONString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	in := v[1 : len(v)-1]
	for _, c := range in {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// flexID is a record id given as a JSON string or number.
type flexID string

// UnmarshalJSON implements json.Unmarshaler.
func (id *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("id: %w", err)
		}
		*id = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return &crm.ValidationError{Field: "id", Code: "INVALID_ID",
			Message: fmt.Sprintf("id %s must be a string or a number", b)}
	}
	*id = flexID(n.String())
	return nil
}

// jsonValueKind names the kind of the JSON value b as a message says it: "a string", "a number",
// "an object", "an array", "null", "true" or "false".
func jsonValueKind(b []byte) string {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return "empty"
	case b[0] == '"':
		return "a string"
	case b[0] == '{':
		return "an object"
	case b[0] == '[':
		return "an array"
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		return "a number"
	}
	return string(b)
}

var numericID = regexp.MustCompile(`^[0-9]{1,20}$`)

// recordID matches a record id as the store allocates it: a whole number from 1, without leading
// zeros. A delete refuses any other id (see checkDeleteIDs): "007" names no record, not record 7.
var recordID = regexp.MustCompile(`^[1-9][0-9]{0,19}$`)

// pathRecordID reads a record id from the path. Ids are decimal, as the store allocates them;
// anything else cannot exist and is a 404 naming it.
func pathRecordID(r *http.Request, name string) (crm.RecordID, error) {
	v := r.PathValue(name)
	if !numericID.MatchString(v) {
		return "", errNotFound("record", v)
	}
	return crm.RecordID(v), nil
}

// pathListID reads a list id from the path; like record ids, a non-decimal one is a 404.
func pathListID(r *http.Request) (crm.ListID, error) {
	v := r.PathValue("listId")
	if !numericID.MatchString(v) {
		return "", errNotFound("list", v)
	}
	return crm.ListID(v), nil
}

// hubSpotTypeIDs maps HubSpot's numeric ids of the standard object types to their names.
var hubSpotTypeIDs = map[string]crm.ObjectType{
	"0-1": crm.Contacts, "0-2": crm.Companies, "0-3": crm.Deals, "0-5": crm.Tickets, "0-48": crm.Calls,
}

// hubSpotTypeID is HubSpot's id of standard type o ("0-1" for contacts), or o's name for a custom
// type, which has no such id in crmflow.
func hubSpotTypeID(o crm.ObjectType) string {
	for id, t := range hubSpotTypeIDs {
		if t == o {
			return id
		}
	}
	return string(o)
}

// objectType resolves the object type named in the path parameter name: a standard type (by name
// or HubSpot id) or one of the tenant's custom types. A type the tenant does not have is a 404
// naming it.
func (s *Server) objectType(r *http.Request, t crm.TenantID, name string) (crm.ObjectType, error) {
	v := r.PathValue(name)
	if o, ok := hubSpotTypeIDs[v]; ok {
		return o, nil
	}
	o := crm.ObjectType(v)
	if o.IsStandard() {
		return o, nil
	}
	if _, err := s.store.Schema(r.Context(), t, o); err != nil {
		if errors.Is(err, crm.ErrNotFound) {
			return "", errNotFound("object type", v)
		}
		return "", fmt.Errorf("read schema of %s: %w", o, err)
	}
	return o, nil
}

// queryLimit reads ?limit=: default 10, 1 to 100, anything else a 400 naming it.
func queryLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultPageLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPageLimit {
		return 0, errInvalid("limit", "INVALID_LIMIT", "limit %q is invalid: use a whole number from 1 to %d", v, maxPageLimit)
	}
	return n, nil
}

// queryArchived reads ?archived=: true or false (default), anything else a 400.
func queryArchived(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("archived"); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, errInvalid("archived", "INVALID_BOOLEAN", "archived %q is invalid: use true or false", v)
	}
}

// queryProperties reads ?properties=a,b (repeatable) into property names.
func queryProperties(r *http.Request) []string {
	return splitNames(r.URL.Query()["properties"])
}

// splitNames splits comma-separated names, dropping blanks.
func splitNames(values []string) []string {
	var out []string
	for _, v := range values {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				out = append(out, n)
			}
		}
	}
	return out
}

// writeJSON writes v as the JSON body of a response of the given status. Every body is a plain
// struct that always encodes, so a failure is a programming error: it panics, and the panic is
// answered as a 500 by the server's recovery.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b []byte
	if batch, ok := v.(batchJSON[recordJSON]); ok {
		b, ok = appendRecordsBatch(nil, batch)
		if !ok {
			b = nil
		}
	}
	if b == nil {
		var err error
		if b, err = json.Marshal(v); err != nil {
			panic(fmt.Sprintf("api: encode response %T: %v", v, err))
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// appendRecordsBatch appends batch to buf byte for byte as json.Marshal writes it, for the shape of
// a batch create's or update's answer: records with their id, properties and times, none archived
// and none with history or associations, and no errors. ok is false for any other batch, which
// json.Marshal then encodes. It spares each answer the reflection and the map sorting of
// encoding/json, on up to 100 records.
func appendRecordsBatch(buf []byte, batch batchJSON[recordJSON]) (out []byte, ok bool) {
	if batch.NumErrors != 0 || len(batch.Errors) != 0 || batch.Results == nil {
		return nil, false
	}
	size := 128
	for _, r := range batch.Results {
		size += 128 + len(r.ID) + len(r.ObjectWriteTraceID)
		for n, v := range r.Properties {
			size += len(n) + len(v) + 6
		}
		if r.Archived || r.ArchivedAt != "" || r.ArchivedBy != "" || r.ArchivedVia != "" || r.ArchivedRef != "" ||
			r.ArchivedRevision != 0 || r.ArchivedActor != "" || r.ArchivedOperation != "" ||
			r.PropertiesWithHistory != nil || len(r.Associations) != 0 || r.Properties == nil {
			return nil, false
		}
	}
	buf = slices.Grow(buf, size) // enough unless escapes lengthen it
	buf = append(buf, `{"status":`...)
	buf = appendJSONString(buf, batch.Status)
	buf = append(buf, `,"results":[`...)
	var names []string
	for i, r := range batch.Results {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"id":`...)
		buf = appendJSONString(buf, r.ID)
		buf = append(buf, `,"properties":{`...)
		names = names[:0]
		for n := range r.Properties {
			names = append(names, n)
		}
		slices.Sort(names) // encoding/json's order of map keys
		for j, n := range names {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, n)
			buf = append(buf, ':')
			buf = appendJSONString(buf, r.Properties[n])
		}
		buf = append(buf, `},"createdAt":`...)
		buf = appendJSONString(buf, r.CreatedAt)
		buf = append(buf, `,"updatedAt":`...)
		buf = appendJSONString(buf, r.UpdatedAt)
		buf = append(buf, `,"archived":false`...)
		if r.ObjectWriteTraceID != "" {
			buf = append(buf, `,"objectWriteTraceId":`...)
			buf = appendJSONString(buf, r.ObjectWriteTraceID)
		}
		buf = append(buf, '}')
	}
	buf = append(buf, `],"startedAt":`...)
	buf = appendJSONString(buf, batch.StartedAt)
	buf = append(buf, `,"completedAt":`...)
	buf = appendJSONString(buf, batch.CompletedAt)
	return append(buf, '}'), true
}

// appendJSONString appends s as json.Marshal writes it: as it is between quotes when it is
// printable ASCII that encoding/json does not escape, else through encoding/json itself.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			b, _ := json.Marshal(s) // a string: cannot fail
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}
