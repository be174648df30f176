package console

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// langCookie is the cookie of the language switch.
const langCookie = "crmflow_lang"

// languages are the languages of the catalog, the first the default.
var languages = []string{"en", "sv"}

// pickLanguage returns the language of r: the crmflow_lang cookie's (__Host-crmflow_lang over
// HTTPS) when it names one of languages, else the best match of Accept-Language, else English.
func pickLanguage(r *http.Request) string {
	for _, name := range []string{hostPrefix + langCookie, langCookie} {
		if c, err := r.Cookie(name); err == nil && slices.Contains(languages, c.Value) {
			return c.Value
		}
	}
	best, bestQ := languages[0], 0.0
	for part := range strings.SplitSeq(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if primary == "nb" || primary == "nn" || primary == "no" || primary == "da" {
			continue
		}
		if slices.Contains(languages, primary) && q > bestQ {
			best, bestQ = primary, q
		}
	}
	return best
}

// translator looks messages up in one language of the catalog.
type translator struct{ lang string }

// T returns the message key in the translator's language, formatted with args. A key missing from
// the language falls back to English, and a key missing from English is shown as is, so that a
// gap shows in the page rather than failing it (a test checks that both languages have every key).
// A message whose first argument is a count has its singular under key+".one", used when the
// count is 1 (English and Swedish have one plural form besides it).
func (tr translator) T(key string, args ...any) string {
	if len(args) > 0 && isOne(args[0]) {
		if _, ok := catalog["en"][key+".one"]; ok {
			key += ".one"
		}
	}
	msg, ok := catalog[tr.lang][key]
	if !ok {
		if msg, ok = catalog["en"][key]; !ok {
			return key
		}
	}
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}

// apiCodes are the API's refusals the catalog words in each language ("api." and the code), with
// the context values each message takes, in order. The API speaks English; the console puts these
// sentences before its message in another language, and the API's own words after them, since
// they hold what only the API knows (a line and column, the command that grants a permission).
var apiCodes = map[string][]string{
	"MISSING_SCOPES":         {"requiredScopes"},
	"PLAN_NOT_ALLOWED":       {"plan", "requiredPlans"},
	"EMAIL_CONFLICT":         {"existingId"},
	"UNIQUE_VALUE_CONFLICT":  {"property", "existingId"},
	"PROTECTED":              {"rule"},
	"COUNT_MISMATCH":         {"confirmCount", "matched"},
	"NOTHING_TO_UNDO":        {"operation"},
	"TOO_MANY_IN_FLIGHT":     {"maxInFlight"},
	"OBJECT_NOT_FOUND":       nil,
	"INVALID_AUTHENTICATION": nil,
	"SERVICE_UNAVAILABLE":    nil,
	"TIMEOUT":                nil,
	"VALIDATION_ERROR":       nil,
	"CONFLICT":               nil,
}

// APIMessage is what the console shows of an API refusal: the API's message in English, and in
// another language the catalog's sentence for its code (else its category) followed by the API's
// message. code is the refusal's first detail's code, ctx the values it names.
func (tr translator) APIMessage(category, code, message string, ctx map[string][]string) string {
	if tr.lang == languages[0] {
		return message
	}
	key := code
	if _, ok := apiCodes[key]; !ok {
		key = category
	}
	names, ok := apiCodes[key]
	if !ok {
		return tr.T("api.said", message)
	}
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = strings.Join(ctx[n], ", ")
	}
	return tr.T("api."+key, args...) + " " + tr.T("api.said", message)
}

// apiError is APIMessage of a refusal the console called the API for.
func (tr translator) apiError(e *APIError) string {
	code, ctx := "", e.Context
	if len(e.Errors) > 0 {
		code = e.Errors[0].Code
		if ctx == nil {
			ctx = e.Errors[0].Context
		}
	}
	return tr.APIMessage(e.Category, code, e.Message, ctx)
}

// isOne reports whether v is the integer 1.
func isOne(v any) bool {
	switch n := v.(type) {
	case int:
		return n == 1
	case int64:
		return n == 1
	}
	return false
}
