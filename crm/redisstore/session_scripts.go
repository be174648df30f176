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
