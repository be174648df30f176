package console

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every language has every key, with the same formatting verbs in the same order.
func TestCatalogComplete(t *testing.T) {
	t.Parallel()
	verbs := regexp.MustCompile(`%[a-z]`)
	for key, en := range catalog["en"] {
		for _, lang := range languages {
			msg, ok := catalog[lang][key]
			require.True(t, ok, "%s lacks %q", lang, key)
			require.Equal(t, verbs.FindAllString(en, -1), verbs.FindAllString(msg, -1), "%s %q", lang, key)
		}
	}
	for _, lang := range languages {
		require.Len(t, catalog[lang], len(catalog["en"]), "%s has keys English lacks", lang)
	}
	require.True(t, slices.Contains(languages, "sv"))
}

func TestPickLanguage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ header, want string }{
		{"", "en"},
		{"sv", "sv"},
		{"sv-SE,sv;q=0.9,en-US;q=0.8,en;q=0.7", "sv"},
		{"en;q=0.9,sv;q=0.4", "en"},
		{"de-DE,de;q=0.9", "en"},
		{"nb,sv;q=0.5", "sv"},
	} {
		r := httptestRequest(tc.header)
		require.Equal(t, tc.want, pickLanguage(r), tc.header)
	}
}

func httptestRequest(acceptLanguage string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/console/", nil)
	if acceptLanguage != "" {
		r.Header.Set("Accept-Language", acceptLanguage)
	}
	return r
}
