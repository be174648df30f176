package console_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFlashWaitsForThePageShown: the message of a change waits for the page the browser shows: a
// page the console's script fetches (following the redirect after a delete, to see where it
// leads) leaves it for the page the script then opens.
func TestFlashWaitsForThePageShown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.createContact(t, map[string]string{"firstname": "F"})
	br := b.browser(t)
	require.Equal(t, http.StatusSeeOther, br.signIn(b.token).StatusCode)
	resp, _ := br.post("/console/objects/contacts/delete/run", url.Values{"csrf": {br.csrf()}, "scope": {"selected"}, "id": {id},
		"count": {"1"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.False(t, b.live(t, id))

	br.header = http.Header{"X-Console-Fetch": {"1"}}
	_, page := br.get(resp.Header.Get("Location"))
	require.NotContains(t, page, "moved to the recycle bin", "a page the script fetched")
	br.header = nil
	_, page = br.get(resp.Header.Get("Location"))
	require.Contains(t, page, "1 record moved to the recycle bin.", "the page the browser shows")
	_, page = br.get(resp.Header.Get("Location"))
	require.NotContains(t, page, "moved to the recycle bin", "once")
}
