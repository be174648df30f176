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

// pickLanguage returns the language of r: the crmflow_lang cookie's when it names one of
// languages, else the best match of Accept-Language, else English.
func pickLanguage(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && slices.Contains(languages, c.Value) {
		return c.Value
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
func (tr translator) T(key string, args ...any) string {
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
