package crm

import (
	"errors"
	"fmt"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
	"math"
	"net/mail"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// PropertyType is the type of a property's values.
type PropertyType string

// The property types. Values travel and are stored as strings; the type says which strings are valid
// and how triggers see them.
const (
	TypeString      PropertyType = "string"
	TypeNumber      PropertyType = "number"
	TypeBool        PropertyType = "bool"
	TypeDatetime    PropertyType = "datetime"
	TypeEnumeration PropertyType = "enumeration"
	// TypeDate is HubSpot's date: a calendar day without a time, stored as YYYY-MM-DD (see
	// ParseDate and FormatDate). Search and triggers see it as its midnight UTC, as a datetime.
	TypeDate PropertyType = "date"
)

// WithArticle is t after its indefinite article, as a message names it ("a number", "an
// enumeration").
func (t PropertyType) WithArticle() string {
	if t != "" && strings.ContainsRune("aeiouAEIOU", rune(t[0])) {
		return "an " + string(t)
	}
	return "a " + string(t)
}

// PropertyTypes lists the property types.
var PropertyTypes = []PropertyType{TypeString, TypeNumber, TypeBool, TypeDate, TypeDatetime, TypeEnumeration}

// Property describes one property of an object type.
type Property struct {
	Name  string       `json:"name" yaml:"name"`
	Label string       `json:"label" yaml:"label"`
	Type  PropertyType `json:"type" yaml:"type"`
	// Options are the allowed values of an enumeration, in their display order.
	Options []string `json:"options,omitempty" yaml:"options,omitempty"`
	// OptionLabels are the labels of the options whose label is not their value, by value (HubSpot
	// shows each option as {label, value}; records store the value). See OptionLabel.
	OptionLabels map[string]string `json:"optionLabels,omitempty" yaml:"option_labels,omitempty"`
	// Standard is true for a property that comes with the product and cannot be changed.
	Standard bool `json:"standard,omitempty" yaml:"standard,omitempty"`
	// Unique is true for a property no two live records of its type may share a value of (HubSpot's
	// hasUniqueValue). Only string and number properties can be unique, and only from their
	// creation: a property's uniqueness and a unique property's type never change afterwards (see
	// ValidatePropertyChange), so no record can hold a value the unique index does not know. A
	// unique property can name records (idProperty) and key upserts.
	Unique bool `json:"unique,omitempty" yaml:"unique,omitempty"`
	// Description is the property's help text (HubSpot's description). Optional.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// DisplayOrder is where HubSpot's screens list the property: the lowest positive first, -1
	// after those. 0 when not given.
	DisplayOrder int `json:"displayOrder,omitempty" yaml:"display_order,omitempty"`
	// Hidden hides the property from HubSpot's screens and forms; it still holds and takes values
	// through the API, triggers and search.
	Hidden bool `json:"hidden,omitempty" yaml:"hidden,omitempty"`
	// FormField says whether the property may be used in HubSpot's forms. crmflow has no forms: it
	// keeps the flag for the clients that read it back.
	FormField bool `json:"formField,omitempty" yaml:"form_field,omitempty"`
	// ArchivedAt and ArchivedBy say when and by whom the property was archived
	// (SchemaStore.ArchiveProperty); zero for a property that is not. They are in Schema.Archived
	// only, and never in a schema file.
	ArchivedAt time.Time `json:"archivedAt,omitzero" yaml:"-"`
	ArchivedBy string    `json:"archivedBy,omitempty" yaml:"-"`
}

// MaxOptions is the most options an enumeration property may have (HubSpot's limit too): each
// option has a search index of its own, and a change of the options is checked option by option.
const MaxOptions = 5000

// MaxDescriptionBytes is the longest description (Property.Description) a property may have.
const MaxDescriptionBytes = 4096

// UniqueTypes are the property types that can be unique (Property.Unique).
var UniqueTypes = []PropertyType{TypeString, TypeNumber}

// reservedPropertyNames are the search pseudo-properties that every record has (see
// SearchIndexes): a property of the same name would share their index.
var reservedPropertyNames = []string{PropObjectID, PropCreateDate, PropLastModifiedDate, PropHSLastModified}

// Validate checks the property's own definition. A name of a search pseudo-property
// (hs_object_id, createdate, lastmodifieddate, hs_lastmodifieddate) is reserved, and so is
// "groups", the path of the property groups.
func (p Property) Validate() error {
	var errs ValidationErrors
	switch {
	case !nameRE.MatchString(p.Name):
		errs = append(errs, &ValidationError{Field: "name", Code: "INVALID_PROPERTY_NAME",
			Message: fmt.Sprintf("property name %q is invalid: use lowercase letters, digits and underscores, starting with a letter (at most 63)", p.Name)})
	case slices.Contains(reservedPropertyNames, p.Name):
		errs = append(errs, &ValidationError{Field: "name", Code: "RESERVED_NAME",
			Message: fmt.Sprintf("property name %q is reserved: every record has it already (its id, or when it was created or last changed), and search reads it; choose another name", p.Name)})
	case p.Name == "groups":
		// GET /crm/v3/properties/{objectType}/groups reads the property groups, as in HubSpot's
		// API, so such a property could never be read by its name.
		errs = append(errs, &ValidationError{Field: "name", Code: "RESERVED_NAME",
			Message: `property name "groups" is reserved: GET /crm/v3/properties/{objectType}/groups reads the property groups, so a property of that name could not be read by its name; choose another name`})
	}
	if !slices.Contains(PropertyTypes, p.Type) {
		errs = append(errs, &ValidationError{Field: "type", Code: "INVALID_PROPERTY_TYPE",
			Message: fmt.Sprintf("property %q has unknown type %q: use string, number, bool, date, datetime or enumeration", p.Name, p.Type)})
	}
	if p.Type == TypeEnumeration && len(p.Options) == 0 {
		errs = append(errs, &ValidationError{Field: "options", Code: "MISSING_OPTIONS",
			Message: fmt.Sprintf("enumeration property %q needs at least one option", p.Name)})
	}
	seen := map[string]bool{}
	if len(p.Options) > MaxOptions {
		errs = append(errs, &ValidationError{Field: "options", Code: "TOO_MANY_OPTIONS",
			Message: fmt.Sprintf("enumeration property %q has %d options, more than the %d a property may have: keep the ones records are given, or use a string property",
				p.Name, len(p.Options), MaxOptions)})
	}
	for i, o := range p.Options {
		switch {
		case o == "" && p.OptionLabels[""] != "":
			errs = append(errs, &ValidationError{Field: "options", Code: "INVALID_OPTION",
				Message: fmt.Sprintf("enumeration property %q: option %q has no value: give every option a value, the text records store, as in {\"label\": %q, \"value\": %q}",
					p.Name, p.OptionLabels[""], p.OptionLabels[""], suggestValue(p.OptionLabels[""]))})
		case o == "":
			errs = append(errs, &ValidationError{Field: "options", Code: "INVALID_OPTION",
				Message: fmt.Sprintf("enumeration property %q: option %d has an empty value: give every option a value, the text records store", p.Name, i+1)})
		case seen[o]:
			errs = append(errs, &ValidationError{Field: "options", Code: "DUPLICATE_OPTION",
				Message: fmt.Sprintf("enumeration property %q: option %q is listed twice: keep one", p.Name, o)})
		}
		seen[o] = true
	}
	for v := range p.OptionLabels {
		if !seen[v] {
			errs = append(errs, &ValidationError{Field: "options", Code: "INVALID_OPTION",
				Message: fmt.Sprintf("property %q has a label for %q, which is not one of its options", p.Name, v)})
			break
		}
	}
	if p.Unique && slices.Contains(PropertyTypes, p.Type) && !slices.Contains(UniqueTypes, p.Type) {
		errs = append(errs, &ValidationError{Field: "hasUniqueValue", Code: "INVALID_UNIQUE_TYPE",
			Message: fmt.Sprintf("property %q has type %q and hasUniqueValue: only string and number properties can have unique values; leave hasUniqueValue out or use type string", p.Name, p.Type)})
	}
	if p.Type != TypeEnumeration && len(p.Options) > 0 {
		errs = append(errs, &ValidationError{Field: "options", Code: "UNEXPECTED_OPTIONS",
			Message: fmt.Sprintf("property %q has options but type %q: only enumeration properties take options", p.Name, p.Type)})
	}
	if len(p.Description) > MaxDescriptionBytes {
		errs = append(errs, &ValidationError{Field: "description", Code: "DESCRIPTION_TOO_LONG",
			Message: fmt.Sprintf("property %q: the description is %d bytes long, over the limit of %d: shorten it", p.Name, len(p.Description), MaxDescriptionBytes)})
	}
	if p.DisplayOrder < -1 {
		errs = append(errs, &ValidationError{Field: "displayOrder", Code: "INVALID_DISPLAY_ORDER",
			Message: fmt.Sprintf("property %q: displayOrder %d is out of range: use a positive number, or -1 to list the property after those that have one", p.Name, p.DisplayOrder)})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// OptionLabel returns the label of option value v: its label in OptionLabels, or else v itself.
func (p Property) OptionLabel(v string) string {
	if l, ok := p.OptionLabels[v]; ok && l != "" {
		return l
	}
	return v
}

// maxOptionsListed bounds the options OptionHint lists: a property may have MaxOptions.
const maxOptionsListed = 12

// OptionHint says what to write instead of v, which is not an option of enumeration p: the option
// whose value or label v is but for case and surrounding spaces ("did you mean ...?"), or else its
// first options (at most 12, saying how many more there are).
func (p Property) OptionHint(v string) string {
	want := strings.ToLower(strings.TrimSpace(v))
	for _, o := range p.Options {
		if strings.ToLower(o) == want || strings.ToLower(p.OptionLabel(o)) == want {
			return p.didYouMean(o)
		}
	}
	opts, more := p.Options, ""
	if len(opts) > maxOptionsListed {
		opts, more = opts[:maxOptionsListed], fmt.Sprintf(" (and %d more)", len(p.Options)-maxOptionsListed)
	}
	return "use one of " + strings.Join(opts, ", ") + more
}

// SuggestOption is OptionHint for option o, which a caller found close to the value given (by
// edit distance, as the crm package does not).
func (p Property) SuggestOption(o string) string { return p.didYouMean(o) }

func (p Property) didYouMean(o string) string {
	if l := p.OptionLabel(o); l != o {
		return fmt.Sprintf("did you mean %q (label %q)?", o, l)
	}
	return fmt.Sprintf("did you mean %q?", o)
}

// suggestValue turns an option's label into a value a person would likely give it: lowercase,
// with runs of other characters than letters and digits as one underscore ("Gold tier" -> "gold_tier").
func suggestValue(label string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(strings.TrimSpace(label)) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(r)
			continue
		}
		under = true
	}
	return b.String()
}

// Schema is the set of properties of one object type of one tenant, standard ones included.
type Schema struct {
	Type       ObjectType
	Properties map[string]Property
	// Archived are the type's archived properties, by name (SchemaStore.ArchiveProperty); nil when
	// it has none. They are not in Properties, so nothing that reads a schema sees them: records
	// keep their values, which reads leave out, and writes (Normalize), searches, triggers and
	// filters refuse them, until the property is restored.
	Archived map[string]Property
}

// Names returns the property names in sorted order.
func (s Schema) Names() []string {
	out := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Normalize checks every value of props against the schema and returns them in canonical form
// (numbers as Go formats them, bools as "true"/"false", datetimes as RFC 3339 in UTC with
// milliseconds, dates as YYYY-MM-DD, emails lowercased). An empty value means "clear the property" and is kept as "".
// Every problem is reported at once as ValidationErrors, each naming its property. An archived
// property (Archived) takes no value, not even "": its records keep theirs until it is restored.
func (s Schema) Normalize(props map[string]string) (map[string]string, error) {
	// Most inputs are valid: they are checked in map order first, and only when one is not are
	// they checked again by name, so that the errors come in a stable order.
	out := make(map[string]string, len(props))
	valid := true
	for name, v := range props {
		p, ok := s.Properties[name]
		if !ok {
			valid = false
			break
		}
		if v == "" {
			out[name] = ""
			continue
		}
		nv, err := NormalizeValue(p, v)
		if err != nil {
			valid = false
			break
		}
		out[name] = nv
	}
	if valid {
		return out, nil
	}
	var errs ValidationErrors
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		v := props[name]
		p, ok := s.Properties[name]
		if _, archived := s.Archived[name]; !ok && archived {
			errs = append(errs, ArchivedPropertyError(s.Type, name, "takes no values"))
			continue
		}
		if !ok {
			errs = append(errs, &ValidationError{Field: name, Code: "PROPERTY_DOESNT_EXIST",
				Message: fmt.Sprintf("property %q does not exist on %s: create it first (POST /crm/v3/properties/%s) or fix the name", name, s.Type, s.Type)})
			continue
		}
		if v == "" {
			out[name] = ""
			continue
		}
		nv, err := NormalizeValue(p, v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[name] = nv
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// MaxCustomObjectTypes is the most custom object types a tenant may define (20). A type cannot
// be removed, and every listing of the types reads each one's properties (up to MaxSchemaBytes
// each), so without a bound a user allowed to define types could make each such read of the
// tenant cost any amount of memory (SPEC S27).
const MaxCustomObjectTypes = 20

// ArchivedPropertyError is the refusal of a use of property name of type o, which is archived
// (Schema.Archived): what says what it does not do while archived ("takes no values"). Code
// PROPERTY_ARCHIVED; the message says how to restore it.
func ArchivedPropertyError(o ObjectType, name, what string) *ValidationError {
	return &ValidationError{Field: name, Code: "PROPERTY_ARCHIVED",
		Message: fmt.Sprintf("property %q of %s is archived: it %s while it is (its records keep their values, hidden); restore it first (POST /crm/v3/properties/%s/%s/restore), or leave it out",
			name, o, what, o, name)}
}

// MaxSchemaBytes is the most bytes the custom properties of one object type may take to define
// (their names and definitions as stored, options and labels included, archived properties too:
// 512 KiB). Every request on the type reads them all, so a tenant that defined megabytes of
// options would make each of its requests cost Redis that much for every tenant (SPEC S27). A
// property past it is refused. An archive adds its time and its user to the definition unchecked:
// a few bytes per property, which the limit bounds in number.
const MaxSchemaBytes = 512 << 10

// MaxValueBytes is the longest property value a record may hold, in bytes (64 KiB). A longer one
// is refused on every write, so that no record, page of records or search index entry grows
// without bound (SPEC S27).
const MaxValueBytes = 64 << 10

// NormalizeValue checks v, a value of property p, and returns it in canonical form (see
// Schema.Normalize). A value longer than MaxValueBytes is refused whatever its type.
func NormalizeValue(p Property, v string) (string, *ValidationError) {
	if len(v) > MaxValueBytes {
		return "", &ValidationError{Field: p.Name, Code: "VALUE_TOO_LONG",
			Message: fmt.Sprintf("property %q: the value is %d bytes long, over the limit of %d bytes: shorten it (keep long text elsewhere and store a link to it)",
				p.Name, len(v), MaxValueBytes)}
	}
	bad := func(code, want string) *ValidationError {
		return &ValidationError{Field: p.Name, Code: code,
			Message: fmt.Sprintf("property %q: %s is not a valid %s: %s", p.Name, Echo(v), p.Type, want)}
	}
	// The search indexes end each string value with a NUL before the record's id: a value holding
	// one would match filters on its first part (EQ "ann" finding "ann\x00x", and NEQ too).
	if strings.ContainsRune(v, 0) {
		return "", &ValidationError{Field: p.Name, Code: "INVALID_CHARACTER",
			Message: fmt.Sprintf("property %q: the value %q holds a NUL character (\\u0000), which no property value can hold: remove it", p.Name, v)}
	}
	switch p.Type {
	case TypeNumber:
		f, err := ParseNumber(v)
		if err != nil {
			return "", bad("INVALID_NUMBER", NumberForms)
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	case TypeBool:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return "true", nil
		case "false":
			return "false", nil
		}
		return "", bad("INVALID_BOOL", "use true or false")
	case TypeDatetime:
		t, err := ParseDatetime(v)
		if err != nil {
			return "", bad("INVALID_DATETIME", "use RFC 3339 (2026-01-31T09:00:00Z), a date (2026-01-31) or unix milliseconds, in the years 0000 to 9999")
		}
		return FormatDatetime(t), nil
	case TypeDate:
		t, err := ParseDate(v)
		if err != nil {
			var de *DateError
			if errors.As(err, &de) {
				return "", bad("INVALID_DATE", de.Reason+"; "+DateForms)
			}
			return "", bad("INVALID_DATE", DateForms)
		}
		return FormatDate(t), nil
	case TypeEnumeration:
		if !slices.Contains(p.Options, v) {
			return "", bad("INVALID_OPTION", p.OptionHint(v))
		}
		return v, nil
	default:
		if p.Name == "email" {
			e, err := NormalizeEmail(v)
			if err != nil {
				return "", bad("INVALID_EMAIL", "use an address such as ada@example.com")
			}
			return e, nil
		}
		if p.Name == "additional_emails" {
			var all []string
			for _, part := range strings.Split(v, ";") {
				if strings.TrimSpace(part) == "" {
					continue
				}
				e, err := NormalizeEmail(part)
				if err != nil {
					return "", bad("INVALID_EMAIL", "use addresses separated by ';'")
				}
				if !slices.Contains(all, e) {
					all = append(all, e)
				}
			}
			return strings.Join(all, ";"), nil
		}
		return v, nil
	}
}

// NumberForms says how to write a number value, for error messages.
const NumberForms = "use a plain decimal number such as 42, -3.5 or 1e3 (no digit separators, no hexadecimal)"

// plainNumber is a decimal number as a person writes it and JSON sends it: an optional sign,
// digits with an optional fraction (either side of the point may be empty, not both), an optional
// exponent.
var plainNumber = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// ParseNumber parses v, the value of a number property or a filter on one, written as a plain
// decimal number (42, -3.5, .5, 1e3), white space around it allowed. It refuses the other forms
// strconv.ParseFloat takes (1_000, 0x1p4, Inf, NaN), which would be stored as another number
// than was typed or which no search, sort or trigger can compare, and a number too large for a
// float64. The error says what was wrong; NumberForms says how to write one.
func ParseNumber(v string) (float64, error) {
	s := strings.TrimSpace(v)
	if !plainNumber.MatchString(s) {
		return 0, fmt.Errorf("%s is not a number", Echo(v))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%s is too large for a number", Echo(v))
	}
	return f, nil
}

// IsEmailProperty reports whether the values of property name are email addresses, stored as
// NormalizeEmail gives them (one, or several joined by ';').
func IsEmailProperty(name string) bool { return name == "email" || name == "additional_emails" }

// NormalizeEmail returns the lowercased bare address of s, or an error when s is not an email address.
// An address is refused when it holds a control, format or separator character outside ASCII (such
// as U+0085, U+2028 or U+202E: some programs break a line or reverse the text there, in an email's
// header too), or when its local part needs quotes ("john doe"@example.com): the address is kept and
// written to mail servers bare, where the quotes would be lost.
func NormalizeEmail(s string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || a.Name != "" || !strings.Contains(a.Address, "@") {
		return "", fmt.Errorf("invalid email %q", s)
	}
	if i := strings.IndexFunc(a.Address, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsSpace(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
	}); i >= 0 {
		r, _ := utf8.DecodeRuneInString(a.Address[i:])
		return "", fmt.Errorf("invalid email %q: it contains the character %U", s, r)
	}
	if b, err := mail.ParseAddress(a.Address); err != nil || b.Address != a.Address {
		return "", fmt.Errorf("invalid email %q: a local part that needs quotes is not supported", s)
	}
	return canonicalEmail(s, strings.ToLower(a.Address))
}

// canonicalEmail gives one spelling to every way of writing the lowercased address addr (as s
// was given): its text in Unicode's composed form (NFC: "é" as one character, not "e" and a
// combining accent, which looks the same), and a domain written in ASCII as its international
// form (xn--bcher-kva.example as bücher.example). Without it the same person's address spelled
// two ways would be two contacts, and an address blocklisted by a permanent delete could be
// written again in the other spelling.
func canonicalEmail(s, addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	if !strings.HasPrefix(domain, "[") { // an address literal, [127.0.0.1], has no labels
		d, err := idna.Punycode.ToUnicode(domain)
		if err != nil {
			return "", fmt.Errorf("invalid email %q: its domain %q is not a valid international domain name", s, domain)
		}
		domain = strings.ToLower(d)
	}
	return norm.NFC.String(local + "@" + domain), nil
}

// ParseDatetime parses RFC 3339, a plain date (its midnight UTC) or unix milliseconds, in UTC. A
// time outside the years 0000 to 9999 is an error: FormatDatetime could not write it in the form
// every reader of a stored datetime (this function, the search indexes, HubSpot's clients) takes.
// It reads a stored date (FormatDate) as its midnight UTC too, which is how triggers see the
// values of date properties.
func ParseDatetime(v string) (time.Time, error) {
	if t, ok := parseStored(v); ok {
		return t, nil
	}
	if t, ok := parseStoredDate(v); ok {
		return t, nil
	}
	t, err := parseDatetime(strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, err
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, fmt.Errorf("datetime %q is outside the years 0000 to 9999", v)
	}
	return t, nil
}

func parseDatetime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t.UTC(), nil
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("invalid datetime %q", v)
}

// parseStored reads the form FormatDatetime writes, 2006-01-02T15:04:05.000Z, without time.Parse:
// triggers read every stored datetime they name, and this is most of their cost. Anything else
// (ok false) goes through time.Parse.
func parseStored(v string) (t time.Time, ok bool) {
	if len(v) != 24 || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' || v[19] != '.' || v[23] != 'Z' {
		return t, false
	}
	y, mo, d, h, mi, sec, ms := digits(v[0:4]), digits(v[5:7]), digits(v[8:10]), digits(v[11:13]), digits(v[14:16]), digits(v[17:19]), digits(v[20:23])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ms < 0 {
		return t, false
	}
	t = time.Date(y, time.Month(mo), d, h, mi, sec, ms*int(time.Millisecond), time.UTC)
	if t.Day() != d { // February 30th and the like: time.Parse refuses them
		return time.Time{}, false
	}
	return t, true
}

// FormatDatetime formats t as stored: RFC 3339 in UTC with milliseconds.
func FormatDatetime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// RecordEmails returns the lowercased primary and additional emails of a contact's properties.
func RecordEmails(props map[string]string) []string {
	var out []string
	if e := props["email"]; e != "" {
		out = append(out, e)
	}
	for _, e := range strings.Split(props["additional_emails"], ";") {
		if e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func std(name, label string, t PropertyType) Property {
	return Property{Name: name, Label: label, Type: t, Standard: true}
}

// stdEnum is a standard enumeration; options are value, label pairs.
func stdEnum(name, label string, options ...string) Property {
	p := Property{Name: name, Label: label, Type: TypeEnumeration, Standard: true, OptionLabels: map[string]string{}}
	for i := 0; i+1 < len(options); i += 2 {
		p.Options = append(p.Options, options[i])
		if options[i+1] != options[i] {
			p.OptionLabels[options[i]] = options[i+1]
		}
	}
	return p
}

var lifecycleStages = []string{"subscriber", "Subscriber", "lead", "Lead", "marketingqualifiedlead", "Marketing Qualified Lead",
	"salesqualifiedlead", "Sales Qualified Lead", "opportunity", "Opportunity", "customer", "Customer",
	"evangelist", "Evangelist", "other", "Other"}

// standardProperties are the properties every tenant has on the standard object types.
var standardProperties = map[ObjectType][]Property{
	Contacts: {
		std("email", "Email", TypeString),
		std("additional_emails", "Additional emails", TypeString),
		std("firstname", "First name", TypeString),
		std("lastname", "Last name", TypeString),
		std("phone", "Phone number", TypeString),
		std("company", "Company name", TypeString),
		std("jobtitle", "Job title", TypeString),
		std("city", "City", TypeString),
		std("country", "Country", TypeString),
		std("website", "Website", TypeString),
		stdEnum("lifecyclestage", "Lifecycle stage", lifecycleStages...),
		stdEnum("hs_lead_status", "Lead status", "new", "New", "open", "Open", "in_progress", "In Progress",
			"open_deal", "Open Deal", "unqualified", "Unqualified", "attempted_to_contact", "Attempted to Contact",
			"connected", "Connected", "bad_timing", "Bad Timing"),
		std("email_bounced", "Email hard-bounced", TypeBool),
		std("email_opt_out", "Unsubscribed from all email", TypeBool),
		std("last_activity_date", "Last activity date", TypeDatetime),
		std("num_notes", "Number of notes", TypeNumber),
	},
	Companies: {
		std("name", "Company name", TypeString),
		std("domain", "Company domain", TypeString),
		std("industry", "Industry", TypeString),
		std("phone", "Phone number", TypeString),
		std("city", "City", TypeString),
		std("country", "Country", TypeString),
		std("numberofemployees", "Number of employees", TypeNumber),
		std("annualrevenue", "Annual revenue", TypeNumber),
		stdEnum("lifecyclestage", "Lifecycle stage", lifecycleStages...),
		std("last_activity_date", "Last activity date", TypeDatetime),
	},
	Deals: {
		std("dealname", "Deal name", TypeString),
		std("amount", "Amount", TypeNumber),
		stageEnum(Deals, "dealstage", "Deal stage"),
		pipelineEnum(Deals, "pipeline", "Pipeline"),
		std("closedate", "Close date", TypeDatetime),
	},
	Tickets: {
		std("subject", "Ticket name", TypeString),
		std("content", "Description", TypeString),
		pipelineEnum(Tickets, "hs_pipeline", "Pipeline"),
		// The stage ids of the default pipeline, then the names crmflow used before it had
		// pipelines, which stay valid for the records and workflows that have them.
		stageEnum(Tickets, "hs_pipeline_stage", "Ticket status", "new", "New (former id)", "waiting_on_contact",
			"Waiting on contact (former id)", "waiting_on_us", "Waiting on us (former id)", "closed", "Closed (former id)"),
		stdEnum("hs_ticket_priority", "Priority", "low", "Low", "medium", "Medium", "high", "High", "urgent", "Urgent"),
	},
	Calls: {
		std("hs_call_title", "Call title", TypeString),
		std("hs_call_body", "Call notes", TypeString),
		std("hs_call_duration", "Call duration (ms)", TypeNumber),
		stdEnum("hs_call_direction", "Call direction", "INBOUND", "Inbound", "OUTBOUND", "Outbound"),
		std("hs_timestamp", "Activity date", TypeDatetime),
	},
}

// StandardProperties returns the standard properties of a standard object type, in the order the
// docs list them, or nil for any other type. The slice is a copy.
func StandardProperties(o ObjectType) []Property {
	return slices.Clone(standardProperties[o])
}

// StandardSchema returns the schema every tenant has for a standard object type, or false for any
// other type.
func StandardSchema(o ObjectType) (Schema, bool) {
	props, ok := standardProperties[o]
	if !ok {
		return Schema{}, false
	}
	s := Schema{Type: o, Properties: make(map[string]Property, len(props))}
	for _, p := range props {
		s.Properties[p.Name] = p
	}
	return s, true
}

// UniqueProperties returns the names of the schema's unique properties (Property.Unique), sorted.
func (s Schema) UniqueProperties() []string {
	var out []string
	for _, n := range s.Names() {
		if s.Properties[n].Unique {
			out = append(out, n)
		}
	}
	return out
}

// ObjectTypeDef defines a custom object type of a tenant.
type ObjectTypeDef struct {
	Name string `json:"name"`
	// Label is the singular label ("Subscription").
	Label string `json:"label"`
	// PluralLabel is the plural label ("Subscriptions"). Defaults to Label.
	PluralLabel string     `json:"pluralLabel,omitempty"`
	Properties  []Property `json:"properties"`
	CreatedAt   time.Time  `json:"createdAt"`
}

// Validate checks a custom object type definition.
func (d ObjectTypeDef) Validate() error {
	var errs ValidationErrors
	if !nameRE.MatchString(d.Name) {
		errs = append(errs, &ValidationError{Field: "name", Code: "INVALID_OBJECT_TYPE_NAME",
			Message: fmt.Sprintf("object type name %q is invalid: use lowercase letters, digits and underscores, starting with a letter", d.Name)})
	} else if ObjectType(d.Name).IsStandard() || d.Name == "lists" || d.Name == "schemas" || d.Name == "properties" {
		errs = append(errs, &ValidationError{Field: "name", Code: "RESERVED_NAME",
			Message: fmt.Sprintf("object type name %q is reserved: choose another name", d.Name)})
	}
	seen := map[string]bool{}
	for _, p := range d.Properties {
		if err := p.Validate(); err != nil {
			var ve ValidationErrors
			if asVE(err, &ve) {
				errs = append(errs, ve...)
			}
		}
		if seen[p.Name] {
			errs = append(errs, &ValidationError{Field: "properties", Code: "DUPLICATE_PROPERTY",
				Message: fmt.Sprintf("property %q is defined twice: keep one", p.Name)})
		}
		seen[p.Name] = true
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func asVE(err error, out *ValidationErrors) bool {
	ve, ok := err.(ValidationErrors)
	if ok {
		*out = ve
	}
	return ok
}
