package crm_test

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/redistest"
)

// replyDropper is a TCP proxy to Redis that, once armed, lets the next script call through to the
// server and then cuts the connection instead of passing the reply on: the client sees the call
// fail after Redis ran it, as when a network blip loses a reply, and go-redis retries it.
type replyDropper struct {
	ln      net.Listener
	target  string
	armed   atomic.Bool
	dropped atomic.Int32
}

func newReplyDropper(t *testing.T, target string) *replyDropper {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &replyDropper{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(c)
		}
	}()
	return p
}

func (p *replyDropper) relay(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	var dropReply atomic.Bool
	go func() { // server to client
		buf := make([]byte, 64<<10)
		for {
			n, err := s.Read(buf)
			if n > 0 {
				if dropReply.Load() {
					_ = c.Close()
					_ = s.Close()
					return
				}
				if _, werr := c.Write(buf[:n]); werr != nil {
					_ = s.Close()
					return
				}
			}
			if err != nil {
				_ = c.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if bytes.Contains(bytes.ToLower(buf[:n]), []byte("evalsha")) && p.armed.CompareAndSwap(true, false) {
				dropReply.Store(true)
				p.dropped.Add(1)
			}
			if _, werr := s.Write(buf[:n]); werr != nil {
				_ = c.Close()
				return
			}
		}
		if err != nil {
			_ = s.Close()
			return
		}
	}
}

// TestCreateRetriedAfterLostReply creates records through a connection that loses the reply of the
// create script: the client retries the call, and the records exist once, with no error (a contact's
// own email is no conflict with itself).
func TestCreateRetriedAfterLostReply(t *testing.T) {
	t.Parallel()
	opt, err := redis.ParseURL(redistest.URL(t))
	require.NoError(t, err)
	proxy := newReplyDropper(t, opt.Addr)
	opt.Addr = proxy.ln.Addr().String()
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := crm.NewRedisStore(rdb, nil)
	require.NoError(t, err)
	ctx := context.Background()
	tn := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	// A first create loads the script, so that the call whose reply is lost runs it.
	first, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "Warm"}}}, crm.Actor{})
	require.NoError(t, err)

	proxy.armed.Store(true)
	recs, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{
		{Properties: map[string]string{"email": "ada@example.com", "firstname": "Ada"}},
		{Properties: map[string]string{"firstname": "Nomail"}},
	}, crm.Actor{})
	require.EqualValues(t, 1, proxy.dropped.Load(), "the reply of the create was lost once")
	require.NoError(t, err)
	require.Len(t, recs, 2)

	n, err := st.CountRecords(ctx, tn, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 3, n, "each record once")
	owner, err := st.ContactByEmail(ctx, tn, "ada@example.com")
	require.NoError(t, err)
	require.Equal(t, recs[0].ID, owner)
	got, err := st.Record(ctx, tn, crm.Contacts, recs[1].ID, nil)
	require.NoError(t, err)
	require.Equal(t, "Nomail", got.Properties["firstname"])
	require.NotEqual(t, first[0].ID, recs[0].ID)
}
