package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// backend is the Redis a command works on and the store on top of it.
type backend struct {
	rdb   redis.UniversalClient
	store *redisstore.Store
	// addr is the server's host:port, or "cluster h1:p1,h2:p2" (never the password); db its
	// database number.
	addr string
	db   int
	// embedded is the in-process server of the zero-setup mode; nil on a real Redis.
	embedded *miniredis.Miniredis
	// stopClock stops the embedded server's TTL clock (see runEmbeddedClock); nil on a real Redis.
	stopClock func()
	// salt is the email salt the embedded store drew when none was given; "" otherwise.
	salt string
}

// Close closes the client and stops the embedded server, if any.
func (b *backend) Close() {
	_ = b.rdb.Close()
	if b.stopClock != nil {
		b.stopClock()
	}
	if b.embedded != nil {
		b.embedded.Close()
	}
}

// ping checks that the store's Redis answers (on a cluster, every master, and that every slot is
// served); it is part of the readiness checks.
func (b *backend) ping(ctx context.Context) error {
	if err := pingAll(ctx, b.rdb); err != nil {
		return fmt.Errorf("ping store redis: %w", err)
	}
	return nil
}

// logAttrs describes the backend for log lines, without secrets.
func (b *backend) logAttrs() []any {
	store := "redis"
	if b.embedded != nil {
		store = "embedded"
	}
	return []any{"store", store, "redis_addr", b.addr, "redis_db", b.db}
}

// storeConfig is the crm configuration the flags give.
func (a *app) storeConfig() *redisstore.Config {
	return &redisstore.Config{EmailSalt: a.cfg.EmailSalt, Logger: a.logger, Retention: a.cfg.Retention, WaitReplicas: a.cfg.WaitReplicas}
}

// openRedis connects to the Redis of a.cfg.RedisURL and builds the store on it. It refuses to
// start without an email salt (errNoEmailSalt) and with a salt other than the one the Redis was
// first used with (see redisstore.Store.CheckEmailSalt). With checkServer it refuses a server that
// may evict keys (unless --allow-eviction) and logs the server's warnings, such as AOF being off.
func (a *app) openRedis(ctx context.Context, checkServer bool) (*backend, error) {
	if a.cfg.EmailSalt == "" {
		return nil, errNoEmailSalt()
	}
	b, err := a.dialRedis(ctx)
	if err != nil {
		return nil, err
	}
	if b.store, err = redisstore.New(b.rdb, a.storeConfig()); err != nil {
		b.Close()
		return nil, err
	}
	if err := a.checkNewEmailSalt(ctx, b.rdb, b.addr); err != nil {
		b.Close()
		return nil, err
	}
	if err := a.checkEmailSalt(ctx, b); err != nil {
		b.Close()
		return nil, err
	}
	if err := a.settleRetention(ctx, b); err != nil {
		b.Close()
		return nil, err
	}
	if !checkServer {
		return b, nil
	}
	if err := a.checkServer(ctx, b.rdb, b.store, "", b.logAttrs()); err != nil {
		b.Close()
		return nil, fmt.Errorf("refusing to start on Redis at %s: %w", b.addr, err)
	}
	return b, nil
}

// dialRedis connects to the Redis of a.cfg.RedisURL and checks that it answers. The backend has
// no store: openRedis adds it.
func (a *app) dialRedis(ctx context.Context) (*backend, error) {
	target, err := parseRedisTarget(a.cfg.RedisURL, "--redis/REDIS_URL")
	if err != nil {
		return nil, err
	}
	rdb := target.client()
	b := &backend{rdb: rdb, addr: target.where(), db: target.db()}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pingAll(pctx, rdb); err != nil {
		_ = rdb.Close()
		if hint, ok := refusedHint(err, "--redis/REDIS_URL"); ok {
			return nil, usageErrorf("Redis at %s refused the connection: %w; %s", b.addr, err, hint)
		}
		return nil, fmt.Errorf("cannot reach Redis at %s: %w; %s", b.addr, err, target.unreachableHint("--redis/REDIS_URL"))
	}
	if hint, ok := clusterNodeHint(pctx, rdb, "--redis/REDIS_URL"); ok {
		_ = rdb.Close()
		return nil, usageErrorf("refusing to start on Redis at %s: %s", b.addr, hint)
	}
	return b, nil
}

// The go-redis timeouts of crmflow's clients, where the Redis URL does not set its own (with
// ?dial_timeout=, ?read_timeout=, ?write_timeout=, ?pool_timeout=, ?max_retries=). They are
// short, so that a Redis that is down or hung (SIGSTOP) fails a call well within the API's
// request deadline (SPEC S27): at most (1 + redisMaxRetries) x redisReadTimeout, about 6 s.
const (
	redisDialTimeout  = 2 * time.Second
	redisReadTimeout  = 3 * time.Second
	redisWriteTimeout = 3 * time.Second
	redisPoolTimeout  = 4 * time.Second
	redisMaxRetries   = 1
)

// withRedisTimeouts sets the timeouts of opt that its URL left unset, and makes the client
// honour its callers' context deadlines (ContextTimeoutEnabled): a request ends at its deadline
// even when Redis does not answer.
func withRedisTimeouts(opt *redis.Options) {
	opt.ContextTimeoutEnabled = true
	if opt.DialTimeout == 0 {
		opt.DialTimeout = redisDialTimeout
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = redisReadTimeout
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = redisWriteTimeout
	}
	if opt.PoolTimeout == 0 {
		opt.PoolTimeout = redisPoolTimeout
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = redisMaxRetries
	}
}

// checkEmailSalt refuses a salt other than the one the Redis of b was first used with, as a
// configuration that can never work (exitUsage: a supervisor does not restart it in a loop).
func (a *app) checkEmailSalt(ctx context.Context, b *backend) error {
	if err := b.store.CheckEmailSalt(ctx); err != nil {
		if errors.Is(err, crm.ErrEmailSaltMismatch) {
			return &exitError{code: exitUsage, err: fmt.Errorf("refusing to start on Redis at %s: the email salt (--email-salt/CRMFLOW_EMAIL_SALT) is not the one "+
				"this Redis was first used with, so this process would not recognise the blocklisted emails of erased contacts "+
				"and would let them back in.%s Give every crmflow process on this Redis the same salt, the deployment's: %w",
				b.addr, saltSpaceHint(ctx, b.rdb, a.cfg.EmailSalt), err)}
		}
		return fmt.Errorf("check the email salt on Redis at %s: %w", b.addr, err)
	}
	return nil
}

// settleRetention makes the process use the deployment's retention, which the Redis of b holds
// (redisstore.RetentionKey), and sets a.cfg.Retention to it. The first serve, worker or run on a
// Redis that holds none stores its own (--retention, else the default); the other commands never
// store one, and use the default until one is. A --retention (or CRMFLOW_RETENTION) given that
// is not the deployment's is refused as a configuration that can never work (exitUsage): a
// process purging or restoring by another retention would remove records users were told they
// could restore, or tell them wrong dates.
func (a *app) settleRetention(ctx context.Context, b *backend) error {
	f := a.retentionSetting
	opts := &redisstore.CheckRetentionOpts{Given: f != nil && f.Changed, NoStore: f == nil || a.purgeRetention}
	d, err := b.store.CheckRetention(ctx, opts)
	var mismatch *crm.RetentionMismatchError
	if errors.As(err, &mismatch) {
		from := "--retention"
		if env, ok := a.fromEnv["retention"]; ok {
			from = env
		}
		held := "this deployment's retention, which this Redis holds, is " + crm.FormatWindow(mismatch.Deployment)
		if mismatch.Unset {
			held = "this Redis holds no retention yet, so the deployment's is the default " + crm.FormatWindow(mismatch.Deployment) +
				" (a purge never stores one: serve, worker and run do when they first start)"
		}
		verb := "start"
		if a.purgeRetention {
			verb = "purge"
		}
		return &exitError{code: exitUsage, err: fmt.Errorf("refusing to %s on Redis at %s: the retention given (%s) is %s, but %s. "+
			"Every process of a deployment purges and restores by the same retention, so that no record is removed while users "+
			"were told they could restore it. Leave out --retention and CRMFLOW_RETENTION to use the deployment's, or change the "+
			"deployment's deliberately with `crmflow admin retention set %s` (shortening it needs --confirm-shorter and says how "+
			"many bin entries it makes purgeable at once): %w",
			verb, b.addr, from, crm.FormatWindow(mismatch.Given), held, crm.FormatWindow(mismatch.Given), err)}
	}
	if err != nil {
		return fmt.Errorf("check the deployment's retention on Redis at %s: %w", b.addr, err)
	}
	a.cfg.Retention = d
	return nil
}

// saltSpaceHint says, when salt differs from the Redis's only by white space at its ends (a
// newline a file or a secret kept, a space pasted along), which way: " " and the fix, or "".
func saltSpaceHint(ctx context.Context, rdb redis.UniversalClient, salt string) string {
	stored, err := rdb.Get(ctx, redisstore.SaltFingerprintKey()).Result()
	if err != nil {
		return ""
	}
	trimmed := strings.TrimSpace(salt)
	if trimmed != salt && crm.SaltFingerprint(trimmed) == stored {
		return " This salt has white space at its start or end (a newline kept from a file, say) and, without it, " +
			"is the Redis's: remove the white space."
	}
	for _, end := range []string{"\n", "\r\n", " "} {
		if crm.SaltFingerprint(trimmed+end) == stored {
			return fmt.Sprintf(" The Redis's salt is this one followed by %q (a newline kept from a file, say), "+
				"which this process was not given: give it the salt exactly as the other processes have it.", end)
		}
	}
	return ""
}

// minEmailSaltLen is the shortest email salt a Redis may be first used with.
const minEmailSaltLen = 16

// weakEmailSalt says why salt cannot be a deployment's secret ("" when it can): too short to
// guess hard, or a placeholder of the documentation left as it is.
func weakEmailSalt(salt string) string {
	switch {
	case strings.Contains(strings.ToLower(salt), "change-me"):
		return "is the placeholder of the example environment file"
	case strings.Trim(salt, ".") == "":
		return "is the placeholder of the documentation"
	case len(salt) < minEmailSaltLen:
		return fmt.Sprintf("is %d characters long, under the %d a secret needs", len(salt), minEmailSaltLen)
	}
	return ""
}

// checkNewEmailSalt refuses a weak salt (see weakEmailSalt) on a Redis that holds no salt
// fingerprint yet, before the fingerprint is stored: once stored, the salt can never change. A
// Redis first used with a weak salt before this check existed keeps working with it.
func (a *app) checkNewEmailSalt(ctx context.Context, rdb redis.UniversalClient, addr string) error {
	why := weakEmailSalt(a.cfg.EmailSalt)
	if why == "" {
		return nil
	}
	n, err := rdb.Exists(ctx, redisstore.SaltFingerprintKey()).Result()
	if err != nil {
		return fmt.Errorf("check the email salt on Redis at %s: %w", addr, err)
	}
	if n > 0 {
		return nil // the deployment's salt is set; CheckEmailSalt compares with it
	}
	return usageErrorf("refusing to start on Redis at %s: the email salt (--email-salt/CRMFLOW_EMAIL_SALT) %s. "+
		"This Redis has no salt yet and the first process would keep this one for good, as the secret of the "+
		"deployment's blocklisted emails; nothing was stored. Make a real one and give it to every crmflow process:\n"+
		"  export CRMFLOW_EMAIL_SALT=$(openssl rand -hex 32)", addr, why)
}

// errNoEmailSalt is the refusal of a process on a real Redis that has no email salt.
func errNoEmailSalt() error {
	return &exitError{code: exitUsage, err: errors.New(
		"no email salt: set CRMFLOW_EMAIL_SALT (or pass --email-salt).\n" +
			"The salt is the secret that salts the hashes of the blocklisted emails of permanently deleted contacts; " +
			"without a secret of the deployment's own, anyone who can read Redis could test whether an address was erased.\n" +
			"Make one once per deployment and give every crmflow process on the Redis the same value (serve, worker, scheduler, " +
			"run, purge and admin), then never change it:\n" +
			"  export CRMFLOW_EMAIL_SALT=$(openssl rand -hex 32)\n" +
			"The first process stores a fingerprint of it (never the salt) in Redis, and a process with another salt refuses to start.")}
}

// checkServer refuses a Redis that may evict keys (unless --allow-eviction) and logs the server's
// warnings, such as AOF being off, with attrs. what names the Redis in the warnings ("" for the
// store's, "queue " for the queue's). With the store st, the store checks its server, which also
// warns of --wait-replicas above the replicas connected.
func (a *app) checkServer(ctx context.Context, rdb redis.UniversalClient, st *redisstore.Store, what string, attrs []any) error {
	var check redisstore.ServerCheck
	var err error
	if st != nil {
		check, err = st.CheckServer(ctx, a.cfg.AllowEviction)
	} else {
		check, err = redisstore.CheckServer(ctx, rdb, a.cfg.AllowEviction)
	}
	for _, w := range check.Warnings {
		a.logger.Warn(what+w, attrs...)
	}
	if err != nil {
		return err
	}
	a.logger.Debug(what+"redis server checked", "maxmemory_policy", check.EvictionPolicy, "aof", check.AOF)
	return nil
}

// queue is the task queue's Redis: the one of --queue-redis, else the store's.
type queue struct {
	// target is the queue's Redis; checkQueue makes its client from it.
	target redisTarget
	// opt is asynq's connection option to the same Redis: target.asynqOpt().
	opt asynq.RedisConnOpt
	// addr names the server as backend.addr does; db is its database number.
	addr string
	db   int
	// fromFlag names where the URL came from, for error messages: --queue-redis or --redis.
	fromFlag string
	// hint is what to check when the queue's Redis does not answer.
	hint string
}

// logAttrs describes the queue for log lines, without secrets.
func (q queue) logAttrs() []any {
	return []any{"queue_redis_addr", q.addr, "queue_redis_db", q.db}
}

// queueOf returns the task queue of the configuration: --queue-redis when given, else the Redis
// of b (the store's; b may be nil when the command has no store, as the scheduler). It is a usage
// error to give --queue-redis with the embedded store, whose queue lives in the same process.
func (a *app) queueOf(b *backend) (queue, error) {
	if b != nil && b.embedded != nil {
		if a.cfg.QueueRedisURL != "" {
			return queue{}, usageErrorf("--queue-redis (QUEUE_REDIS_URL) needs --redis: the embedded store keeps its task queue " +
				"in the same in-process Redis; drop --queue-redis, or give both")
		}
		target := redisTarget{single: &redis.Options{Addr: b.addr}}
		return queue{target: target, opt: target.asynqOpt(), addr: b.addr, fromFlag: "the embedded store"}, nil
	}
	raw, flag := a.cfg.QueueRedisURL, "--queue-redis/QUEUE_REDIS_URL"
	if raw == "" {
		raw, flag = a.cfg.RedisURL, "--redis/REDIS_URL"
	}
	// asynq's options have no ContextTimeoutEnabled: its calls end at the timeouts the target sets.
	target, err := parseRedisTarget(raw, flag)
	if err != nil {
		return queue{}, err
	}
	return queue{target: target, fromFlag: flag, opt: target.asynqOpt(), addr: target.where(), db: target.db(), hint: target.unreachableHint(flag)}, nil
}

// checkQueue makes sure the queue's Redis answers and, unless it is the server of b (already
// checked) or the embedded one, that it does not evict keys: an evicted task is lost work.
func (a *app) checkQueue(ctx context.Context, q queue, b *backend) error {
	rdb := q.target.client()
	defer rdb.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pingAll(pctx, rdb); err != nil {
		if hint, ok := refusedHint(err, q.fromFlag); ok {
			return usageErrorf("the queue's Redis at %s refused the connection: %w; %s", q.addr, err, hint)
		}
		hint := q.hint
		if hint == "" {
			hint = fmt.Sprintf("check %s and that the server is up", q.fromFlag)
		}
		return fmt.Errorf("cannot reach the queue's Redis at %s: %w; %s", q.addr, err, hint)
	}
	if hint, ok := clusterNodeHint(pctx, rdb, q.fromFlag); ok {
		return usageErrorf("refusing to start on the queue's Redis at %s: %s", q.addr, hint)
	}
	if b != nil && (b.embedded != nil || b.addr == q.addr) {
		return nil
	}
	if err := a.checkServer(ctx, rdb, nil, "queue ", q.logAttrs()); err != nil {
		return fmt.Errorf("refusing to start on the queue's Redis at %s: %w", q.addr, err)
	}
	return nil
}

// openEmbedded starts an in-process Redis (miniredis) on a loopback port and builds the store on
// it. Nothing it holds survives the process.
//
// Without --email-salt it draws a random salt: its blocklist dies with the process anyway.
// It does not call CheckServer: the embedded server never evicts and never persists, and it
// answers neither a multi-section INFO nor CONFIG GET.
func (a *app) openEmbedded() (*backend, error) {
	if a.cfg.WaitReplicas > 0 {
		return nil, usageErrorf("--wait-replicas %d needs a Redis with replicas: the embedded store has none; drop the flag, or pass --redis", a.cfg.WaitReplicas)
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start the embedded Redis: %w", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	b := &backend{rdb: rdb, addr: mr.Addr(), embedded: mr, stopClock: runEmbeddedClock(mr, embeddedClockTick)}
	cfg := a.storeConfig()
	if cfg.EmailSalt == "" {
		// Nothing of the embedded store outlives the process, so neither need its salt.
		var salt [32]byte
		if _, err := rand.Read(salt[:]); err != nil {
			b.Close()
			return nil, fmt.Errorf("draw the embedded store's email salt: %w", err)
		}
		cfg.EmailSalt = hex.EncodeToString(salt[:])
		b.salt = cfg.EmailSalt
	}
	store, err := redisstore.New(rdb, cfg)
	if err != nil {
		b.Close()
		return nil, err
	}
	// The fingerprint of its salt, which the admin commands on this store check theirs against:
	// without it, they would take a short --email-salt of this process for a new deployment's.
	if err := store.CheckEmailSalt(context.Background()); err != nil {
		b.Close()
		return nil, err
	}
	b.store = store
	if err := a.settleRetention(context.Background(), b); err != nil {
		b.Close()
		return nil, err
	}
	a.logger.Warn("using the embedded in-process Redis: state is NOT kept after exit; "+
		"pass --redis or set REDIS_URL to keep data", b.logAttrs()...)
	return b, nil
}

// embeddedClockTick is how often the embedded server's key TTLs are moved on by the wall clock: a key
// expires at most this much later than on a real Redis.
const embeddedClockTick = 250 * time.Millisecond

// runEmbeddedClock moves mr's key TTLs on by the wall clock every tick (miniredis otherwise counts
// them down only on FastForward), until the returned func is called; that func waits for the
// goroutine to end.
//
// It does not use miniredis's ClockTTL: that moves the clock on every database access, and each
// move walks (and sorts) every key of the server. A script's every redis.call is such an access, so
// a change drain of a few thousand records took seconds to tens of seconds and held the server's
// lock meanwhile, and other clients' reads timed out. One move per tick costs one walk per tick.
func runEmbeddedClock(mr *miniredis.Miniredis, tick time.Duration) func() {
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(tick)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				mr.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	return func() {
		close(done)
		<-ended
	}
}

// The demo tenant the zero-setup mode starts with.
const (
	demoTenant crm.TenantID = "demo"
	demoPlan                = crm.PlanProfessional
	demoUser                = "admin@demo.example"
	// seedActor is who the audit trail says created the demo user and its tokens.
	seedActor = "crmflow-seed"
)

// seedDemo makes sure the demo tenant and its admin user exist, and issues a token for a user it
// created. It keeps a tenant or user that already exists (on a real Redis, from an earlier run)
// and then issues no token (""): a process restarted with --seed would otherwise leave one more
// token with every permission, printed in its log, at each start.
func (a *app) seedDemo(ctx context.Context, s crm.Store) (string, error) {
	if _, err := s.CreateTenant(ctx, demoTenant, demoPlan); err != nil {
		if !errors.Is(err, crm.ErrTenantExists) {
			return "", fmt.Errorf("seed tenant %s: %w", demoTenant, err)
		}
		a.logger.Info("demo tenant already exists; keeping it", "tenant_id", demoTenant)
	}
	if _, err := s.CreateUser(ctx, demoTenant, demoUser, slices.Clone(crm.AllPermissions), seedActor); err != nil {
		if !errors.Is(err, crm.ErrUserExists) {
			return "", fmt.Errorf("seed user of tenant %s: %w", demoTenant, err)
		}
		a.logger.Info("demo user already exists; keeping it and its tokens, issuing none", "tenant_id", demoTenant)
		return "", nil
	}
	token, err := s.CreateToken(ctx, demoTenant, demoUser, &crm.TokenOpts{By: seedActor})
	if err != nil {
		return "", fmt.Errorf("seed token of tenant %s: %w", demoTenant, err)
	}
	a.logger.Info("demo tenant ready", "tenant_id", demoTenant, "plan", demoPlan)
	return token, nil
}

// printDemo tells a newcomer how to call the API at baseURL with the demo token; without one (the
// demo user came from an earlier run), how to issue one.
func (a *app) printDemo(b *backend, baseURL, token string) {
	kept := "state is NOT kept after exit (embedded in-process Redis at " + b.addr + ")"
	if b.embedded == nil {
		kept = "on Redis at " + b.addr + " db " + strconv.Itoa(b.db)
	}
	if token == "" {
		fmt.Fprintf(a.stdout, `
crmflow is ready at %[1]s: %[2]s.

The demo tenant %[3]s and its user %[4]s are from an earlier run, and their tokens are kept (a
token is shown once, when it is issued). To issue another:

  crmflow admin token create %[3]s %[4]s --ttl 90d

%[5]s
`, baseURL, kept, demoTenant, demoUser, a.adminHint(b))
		return
	}
	fmt.Fprintf(a.stdout, `
crmflow is ready at %[1]s: %[2]s.

  tenant  %[3]s (plan %[4]s)
  user    %[5]s (all permissions)
  token   %[6]s

Try it:

  export CRMFLOW_TOKEN=%[6]s
  curl -s -X POST %[1]s/crm/v3/objects/contacts \
    -H "Authorization: Bearer $CRMFLOW_TOKEN" -H 'Content-Type: application/json' \
    -d '{"properties":{"email":"ada@example.com","firstname":"Ada","lastname":"Lovelace"}}'
  curl -s '%[1]s/crm/v3/objects/contacts?limit=10' -H "Authorization: Bearer $CRMFLOW_TOKEN"

The console: %[1]s/ (sign in with the token).

The CLI:

  export CRMFLOW_URL=%[1]s CRMFLOW_TOKEN=%[6]s
  crmflow workflows list

%[7]s
`, baseURL, kept, demoTenant, demoPlan, demoUser, token, a.adminHint(b))
}

// adminHint tells how to run the admin commands on b's store: on the embedded one, its address
// and the salt it drew (a throwaway store's), while this process runs.
func (a *app) adminHint(b *backend) string {
	if b.embedded != nil {
		salt := b.salt
		if salt == "" {
			salt = "<the --email-salt given to this process>"
		}
		return fmt.Sprintf("The admin commands, on this embedded store while this process runs:\n\n"+
			"  export REDIS_URL=redis://%s/0 CRMFLOW_EMAIL_SALT=%s\n  crmflow admin outbox list %s\n", b.addr, salt, demoTenant)
	}
	if strings.HasPrefix(b.addr, "cluster ") {
		return "The admin commands: crmflow admin --help (with this process's --redis and CRMFLOW_EMAIL_SALT).\n"
	}
	return fmt.Sprintf("The admin commands: crmflow admin outbox list %s --redis redis://%s/%d (with this process's CRMFLOW_EMAIL_SALT;\n"+
		"add the password if the Redis has one).\n", demoTenant, b.addr, b.db)
}
