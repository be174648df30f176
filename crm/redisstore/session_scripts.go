package redisstore

// touchSessionScript moves the idle end of a console session that has not ended.
// See lua/touch_session.lua for its KEYS and ARGV. It is quiet: using the console is no work for
// the sweeps.
var touchSessionScript = newScript[touchSessionCall]("touch_session").quiet()

// touchSessionCall is a call of touchSessionScript (lua/touch_session.lua).
type touchSessionCall struct {
	Session string

	IdleExpiresAt int64 // unix ms
	Now           int64 // unix ms
}

func (c touchSessionCall) keys() []string { return []string{c.Session} }
func (c touchSessionCall) argv() []any    { return []any{c.IdleExpiresAt, c.Now} }

// countSignInScript counts a sign-in attempt of a client within the bound of its window.
// See lua/count_signin.lua for its KEYS and ARGV. Its key is no tenant's.
var countSignInScript = newScript[countSignInCall]("count_signin").quiet()

// countSignInCall is a call of countSignInScript (lua/count_signin.lua).
type countSignInCall struct {
	SignIn string

	Now    int64 // unix ms
	Window int64 // ms
	Max    int
}

func (c countSignInCall) keys() []string { return []string{c.SignIn} }
func (c countSignInCall) argv() []any    { return []any{c.Now, c.Window, c.Max} }

// uncountSignInScript takes back a sign-in attempt that did not fail.
// See lua/uncount_signin.lua for its KEYS and ARGV. Its key is no tenant's.
var uncountSignInScript = newScript[uncountSignInCall]("uncount_signin").quiet()

// uncountSignInCall is a call of uncountSignInScript (lua/uncount_signin.lua).
type uncountSignInCall struct {
	SignIn string

	WindowStart int64 // unix ms
}

func (c uncountSignInCall) keys() []string { return []string{c.SignIn} }
func (c uncountSignInCall) argv() []any    { return []any{c.WindowStart} }

// setSessionDraftScript keeps or removes the draft on the trace of a console session that is still kept.
// See lua/set_session_draft.lua for its KEYS and ARGV. It is quiet, like touchSessionScript.
var setSessionDraftScript = newScript[setSessionDraftCall]("set_session_draft").quiet()

// setSessionDraftCall is a call of setSessionDraftScript (lua/set_session_draft.lua).
type setSessionDraftCall struct {
	Trace string

	Draft []byte // empty: remove it
	Now   int64  // unix ms
}

func (c setSessionDraftCall) keys() []string { return []string{c.Trace} }
func (c setSessionDraftCall) argv() []any    { return []any{c.Draft, c.Now} }
