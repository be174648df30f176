package console

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
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

// Every kind of history entry has a name in every language: the history pages show each by it.
func TestHistoryKindsNamed(t *testing.T) {
	t.Parallel()
	for _, kind := range crm.HistoryKinds() {
		for _, lang := range languages {
			require.Contains(t, catalog[lang], "history.kind."+kind, "%s lacks a name for history kind %q", lang, kind)
		}
	}
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

// An API refusal: English as the API words it; another language words its code, else its
// category, with the context's values, and quotes the API after.
func TestAPIMessage(t *testing.T) {
	t.Parallel()
	en, sv := translator{lang: "en"}, translator{lang: "sv"}
	msg := `plan "starter" does not include workflows`
	ctx := map[string][]string{"plan": {"starter"}, "requiredPlans": {"professional", "enterprise"}}
	require.Equal(t, msg, en.APIMessage("PLAN_NOT_ALLOWED", "PLAN_NOT_ALLOWED", msg, ctx))
	require.Equal(t, "Planen starter omfattar inte arbetsflöden; de kräver professional, enterprise. (API:t svarade på engelska: "+msg+")",
		sv.APIMessage("PLAN_NOT_ALLOWED", "PLAN_NOT_ALLOWED", msg, ctx))
	require.Equal(t, "Begäran avvisades som ogiltig. (API:t svarade på engelska: bad)", sv.APIMessage("VALIDATION_ERROR", "INVALID_FILTER", "bad", nil))
	require.Equal(t, "(API:t svarade på engelska: odd)", sv.APIMessage("SOMETHING_NEW", "", "odd", nil))
	for code, names := range apiCodes {
		_, ok := catalog["en"]["api."+code]
		require.True(t, ok, "no message for %s", code)
		require.Len(t, regexp.MustCompile(`%[a-z]`).FindAllString(catalog["en"]["api."+code], -1), len(names), code)
	}
}

// A count of 1 takes the message's singular, in each language; other counts the plural.
func TestSingularOfACount(t *testing.T) {
	t.Parallel()
	en, sv := translator{lang: "en"}, translator{lang: "sv"}
	require.Equal(t, "1 record restored.", en.T("flash.restored", 1))
	require.Equal(t, "2 records restored.", en.T("flash.restored", 2))
	require.Equal(t, "0 records restored.", en.T("flash.restored", 0))
	require.Equal(t, "1 post kunde inte återställas:", sv.T("job.failures", int64(1)))
	require.Equal(t, "3 poster kunde inte återställas:", sv.T("job.failures", int64(3)))
	require.Equal(t, "1 deletion per 1h", en.T("settings.limit.value", 1, "1h"))
	// A message whose first argument is no count has no singular.
	require.Equal(t, "Revision 1, today, by ann", en.T("workflow.revision", 1, "today", "ann"))
	for key := range catalog["en"] {
		if base, ok := strings.CutSuffix(key, ".one"); ok {
			_, has := catalog["en"][base]
			require.True(t, has, "%s is the singular of no message", key)
		}
	}
}

// An undo with nothing left in the bin is worded in Swedish, naming the operation, with the API's
// words after it.
func TestNothingToUndoInSwedish(t *testing.T) {
	t.Parallel()
	sv := translator{lang: "sv"}
	msg := sv.APIMessage("CONFLICT", "NOTHING_TO_UNDO", "nothing of operation op-1 is in the recycle bin", map[string][]string{"operation": {"op-1"}})
	require.Equal(t, "Inget från operation op-1 ligger kvar i papperskorgen: det finns inget att ångra. (API:t svarade på engelska: nothing of operation op-1 is in the recycle bin)", msg)
}

// Why a workflow paused itself, from its code and params: every code has its message with a verb
// for each param; a count of one and a single permission take the singular; no code, a code the
// catalog does not know, or a missing param shows the API's English sentence.
func TestPauseReason(t *testing.T) {
	t.Parallel()
	en, sv := translator{lang: "en"}, translator{lang: "sv"}
	verbs := regexp.MustCompile(`%[a-z]`)
	for code, names := range pauseCodes {
		msg, ok := catalog["en"]["pause."+string(code)]
		require.True(t, ok, "no message for %s", code)
		want := len(names)
		if code == crm.PauseDeletionLimit {
			want = 1 // the limit, worded by settings.limit.value
		}
		require.Len(t, verbs.FindAllString(msg, -1), want, code)
	}
	limit := map[string]string{"maxDeletions": "1", "per": "30m"}
	require.Equal(t, "Pausat: raderingsgränsen på 1 radering per 30m nåddes. De poster som fortfarande väntar förblir registrerade: "+
		"höj gränsen (limits i arbetsflödet, eller crmflow admin tenant set-limits) eller vänta tills fönstret har passerat, och aktivera sedan arbetsflödet igen.",
		sv.PauseReason("DELETION_LIMIT_REACHED", limit, "paused: blast-radius limit of 1 deletion per 30m reached"))
	require.True(t, strings.HasPrefix(en.PauseReason("DELETION_LIMIT_REACHED", map[string]string{"maxDeletions": "5", "per": "1h"}, ""),
		"Paused: blast-radius limit of 5 deletions per 1h reached."))
	require.Equal(t, "ann@example.com, som aktiverade det, har inte längre behörigheterna delete och bulk_delete som dess åtgärder kräver: "+
		"ge tillbaka dem, eller låt en användare som har dem aktivera arbetsflödet igen.",
		sv.PauseReason("ACTIVATOR_LACKS_PERMISSION", map[string]string{"activator": "ann@example.com", "permissions": "delete,bulk_delete"}, "x"))
	require.Contains(t, en.PauseReason("ACTIVATOR_LACKS_PERMISSION", map[string]string{"activator": "ann@example.com", "permissions": "delete"}, "x"),
		"no longer holds the delete permission its actions need: grant it,")
	require.Equal(t, "Planen free omfattar inte arbetsflöden: uppgradera till professional eller enterprise och aktivera sedan arbetsflödet igen.",
		sv.PauseReason("PLAN_DOWNGRADED", map[string]string{"plan": "free"}, "plan free does not include workflows"))
	require.Contains(t, sv.PauseReason("UNDO_STARTED", map[string]string{"undoJob": "7", "by": "bo@example.com"}, "x"), "(ångringsjobb 7, begärt av bo@example.com)")
	require.Contains(t, sv.PauseReason("CONTACT_ERASED", map[string]string{}, "x"), "En permanent borttagning raderade en e-postadress")

	require.Equal(t, "plan free does not include workflows", sv.PauseReason("", nil, "plan free does not include workflows"), "paused before codes were kept")
	require.Equal(t, "something new", sv.PauseReason("SOMETHING_NEW", map[string]string{"x": "y"}, "something new"))
	require.Equal(t, "the text", sv.PauseReason("PLAN_DOWNGRADED", map[string]string{}, "the text"), "a param missing")
	require.Equal(t, "the text", sv.PauseReason("DELETION_LIMIT_REACHED", map[string]string{"maxDeletions": "many", "per": "1h"}, "the text"))
	require.Empty(t, sv.PauseReason("", nil, ""), "a user's pause")
}
