package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/httpsec"
)

// defaultMaxBodyBytes is the default limit of a request body: 1 MiB.
const defaultMaxBodyBytes int64 = 1 << 20

// DefaultPreviewBudget is the default of Config.PreviewBudget.
const DefaultPreviewBudget = 5 * time.Second

// DefaultRequestTimeout is the default of Config.RequestTimeout.
const DefaultRequestTimeout = 15 * time.Second

// Tasks enqueues background work for the API: the bulk delete jobs and the confirmation emails
// that a request has written to the store, and the enrollment of the existing records of a
// workflow being activated. The worker package implements it; cmd wires it in, so that the api
// never imports the worker. Implementations must be safe for concurrent use.
//
// The store is the source of truth: a job or a mail is durable in Redis before it is enqueued,
// and enqueuing only tells a worker to start now. A failed (or skipped) enqueue of a job or a mail
// loses nothing, because the worker's sweep picks up the pending jobs and mails left behind. No
// sweep covers a backfill: when its enqueue fails, the activation's answer says so (see
// POST /automation/v4/flows/{name}/activate).
type Tasks interface {
	// EnqueueBackfill asks a worker to enroll the live records of tenant t that match workflow flow
	// at its active revision revision (enroll existing records on activation). Enqueuing the same
	// backfill twice is harmless: enrollment is idempotent.
	EnqueueWorkflowBackfill(ctx context.Context, t crm.TenantID, flow string, revision int64) error
	// EnqueueWorkflowSteps asks a worker to run the due steps of records enrolled in workflow flow
	// at revision revision (after a manual enrollment). Enqueuing the same steps twice is harmless.
	EnqueueWorkflowSteps(ctx context.Context, t crm.TenantID, flow string, revision int64, ids []crm.RecordID) error
	// EnqueueWorkflowResume asks a worker to run at once the due steps of the records enrolled in
	// workflow flow, which waited while it was paused, now that it was activated again at
	// activatedAt (rather than at the worker's next workflow sweep). Enqueuing it twice is harmless:
	// a step runs once.
	EnqueueWorkflowResume(ctx context.Context, t crm.TenantID, flow string, activatedAt time.Time) error
	// EnqueueDeleteJob asks a worker to run bulk job id of tenant t (a bulk delete or an undo job).
	// Enqueuing the same job twice is harmless.
	EnqueueDeleteJob(ctx context.Context, t crm.TenantID, jobID string) error
	// EnqueueMail asks a worker to deliver a pending email written by the store (m.ID is its idempotency key).
	EnqueueMail(ctx context.Context, t crm.TenantID, m crm.Mail) error
	// EnqueueChangesDrain asks a worker to run tenant t's record changes through the workflow engine
	// now (at is the time of the write) rather than at the scheduler's next changes sweep. Enqueuing
	// it after every write is harmless: a drain queued or running takes the later changes too (but
	// for a change made as a running drain finishes, which the sweep drains).
	EnqueueChangesDrain(ctx context.Context, t crm.TenantID, at time.Time) error
}

// Config configures a Server. The zero value works.
type Config struct {
	// Actions are the action types workflows may use, against which PUT /automation/v4/flows
	// validates them. Give the workers' registry, so that both agree. Defaults to actions.Default().
	Actions *actions.Registry
	// AuthFailureLimit is the most failed bearer authentications (a token the store does not
	// know, a revoked or expired one, one of a disabled user) one client address may make in
	// AuthFailureWindow, from its first: past it, every request of that address that sends a
	// token is refused with 429 RATE_LIMITS and Retry-After until the window ends, before its
	// token is looked up, so that a flood of made-up tokens cannot keep the store busy (SPEC S27),
	// unless this Server accepted that token within the last 10 minutes (among the last 10,000
	// tokens it accepted): the tokens already in use from that address go on, looked up as usual,
	// while the others wait. The failures and the tokens accepted (by their SHA-256 only) are kept
	// in this Server's memory (an API process's), never in the store; a request whose token is
	// valid is never counted. The client address is the one
	// TrustedProxies resolves; an IPv6 address counts by its /64. Defaults to
	// DefaultAuthFailureLimit.
	AuthFailureLimit int
	// AuthFailureWindow is the window of AuthFailureLimit. Defaults to DefaultAuthFailureWindow.
	AuthFailureWindow time.Duration
	// Clock tells the time: the "now" of the filters of bulk deletes and of workflow previews, and
	// the startedAt and completedAt of batch responses. Defaults to clock.Real{}.
	Clock clock.Clock
	// Logger receives one line per request. Defaults to slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes is the largest request body accepted; a bigger one is refused with 413.
	// Defaults to 1 MiB.
	MaxBodyBytes int64
	// MaxTenantInFlight is the most requests of one tenant that may run at once in this Server: one
	// more is refused at once, before its body is read, with 429 RATE_LIMITS and Retry-After, so
	// that a tenant firing hundreds of expensive requests at once cannot take every connection and
	// all of the store's time from the other tenants (SPEC S27). Requests refused before their
	// tenant is known (a bad token) hold no slot. Keep it well below the connections the server
	// accepts at once. Defaults to 64.
	MaxTenantInFlight int
	// PreviewBudget bounds the work of one workflow preview: the time its triggers may take over
	// all the records it looks at. A preview that needs more stops and answers 400
	// PREVIEW_TOO_EXPENSIVE, saying how many records fit (?maxRecords=N previews those). Defaults to
	// 5s; it should be well under RequestTimeout.
	PreviewBudget time.Duration
	// Ready is the readiness probe behind GET /readyz (a Redis PING, for example). A non-nil error
	// makes /readyz answer 503 with the error's text as the reason, so that text must name what is
	// unavailable ("redis unavailable") without internals such as addresses; the error is logged
	// at warn. A probe that does not return within 1 s counts as "redis unavailable". nil means
	// always ready.
	Ready func(ctx context.Context) error
	// Registerer receives the request metrics: a counter of requests by route, method and status,
	// and a latency histogram by route. nil means no metrics.
	Registerer prometheus.Registerer
	// RequestTimeout is the deadline of every request, from the moment its headers are read: a
	// request still running at it stops and answers 503 with Retry-After (SPEC S27). A request also
	// stops when its client goes away. Defaults to 15s.
	RequestTimeout time.Duration
	// Tasks enqueues the bulk delete jobs, the confirmation emails and the backfills of workflow
	// activations. nil means nothing is enqueued: the endpoints still write their jobs and mails to
	// the store, answer as usual and log a warning, and the pending work waits for the worker's
	// sweep; an activation answers that its backfill was not queued.
	Tasks Tasks
	// TrustedProxies are the addresses of the proxies in front of the API whose X-Forwarded-For
	// is believed: the client of a request from one of them, which AuthFailureLimit counts, is the
	// last address of X-Forwarded-For that is not a trusted proxy. From any other peer the header
	// is ignored, as a client can send it. Defaults to none.
	TrustedProxies []netip.Prefix
}

// Server is the HTTP API over a crm.Store, in the shape of HubSpot's CRM v3 API. It implements
// http.Handler and is safe for concurrent use. Build one with New.
type Server struct {
	store   crm.Store
	cfg     Config
	mux     *http.ServeMux
	metrics *metrics
	clock   clock.Clock // cfg.Clock: the filters' now, the batch responses' startedAt and completedAt
	// inFlight counts each tenant's requests running now, against cfg.MaxTenantInFlight.
	inFlight *inFlight
	// origin resolves a request's client address through cfg.TrustedProxies.
	origin httpsec.Origin
	// authLimit counts each client address's failed bearer authentications, against
	// cfg.AuthFailureLimit.
	authLimit *authLimit
	// knownTokens are the tokens accepted recently, which a client address over authLimit may
	// still send.
	knownTokens *knownTokens
}

// New returns a Server over store. A nil cfg means the defaults. It returns an error naming the
// bad field of cfg, or the error of registering the metrics with cfg.Registerer.
func New(store crm.Store, cfg *Config) (*Server, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = defaultMaxBodyBytes
	}
	if c.MaxTenantInFlight == 0 {
		c.MaxTenantInFlight = DefaultMaxTenantInFlight
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.PreviewBudget == 0 {
		c.PreviewBudget = DefaultPreviewBudget
	}
	if c.Actions == nil {
		c.Actions = actions.Default()
	}
	if c.AuthFailureLimit == 0 {
		c.AuthFailureLimit = DefaultAuthFailureLimit
	}
	if c.AuthFailureWindow == 0 {
		c.AuthFailureWindow = DefaultAuthFailureWindow
	}
	if store == nil {
		return nil, errors.New("api: New needs a store")
	}
	if c.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("api: Config.MaxBodyBytes must be positive, got %d", c.MaxBodyBytes)
	}
	if c.MaxTenantInFlight < 0 {
		return nil, fmt.Errorf("api: Config.MaxTenantInFlight must be positive, got %d", c.MaxTenantInFlight)
	}
	if c.RequestTimeout < 0 {
		return nil, fmt.Errorf("api: Config.RequestTimeout must be positive, got %s", c.RequestTimeout)
	}
	if c.AuthFailureLimit < 0 {
		return nil, fmt.Errorf("api: Config.AuthFailureLimit must be positive, got %d", c.AuthFailureLimit)
	}
	if c.AuthFailureWindow < 0 {
		return nil, fmt.Errorf("api: Config.AuthFailureWindow must be positive, got %s", c.AuthFailureWindow)
	}
	if c.PreviewBudget < 0 {
		return nil, fmt.Errorf("api: Config.PreviewBudget must be positive, got %s", c.PreviewBudget)
	}
	s := &Server{store: store, cfg: c, mux: http.NewServeMux(), clock: c.Clock, inFlight: newInFlight(c.MaxTenantInFlight),
		origin:      httpsec.Origin{TrustedProxies: c.TrustedProxies},
		authLimit:   newAuthLimit(c.AuthFailureLimit, c.AuthFailureWindow, maxAuthClients),
		knownTokens: newKnownTokens(maxKnownTokens, knownTokenTTL)}
	if c.Registerer != nil {
		m, err := newMetrics(c.Registerer)
		if err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
		s.metrics = m
	}
	s.routes()
	return s, nil
}

// routes registers every endpoint with the permission it needs. A new endpoint is one line here
// and one handler in the file of its resource group.
func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)

	// Records (objects.go, batch.go).
	s.handle("POST /crm/v3/objects/{objectType}", crm.PermWrite, s.createObject)
	s.handle("GET /crm/v3/objects/{objectType}", crm.PermRead, s.listObjects)
	s.handle("GET /crm/v3/objects/{objectType}/{id}", crm.PermRead, s.getObject)
	s.handle("PATCH /crm/v3/objects/{objectType}/{id}", crm.PermWrite, s.updateObject)
	s.handle("POST /crm/v3/objects/{objectType}/batch/create", crm.PermWrite, s.batchCreate)
	s.handle("POST /crm/v3/objects/{objectType}/batch/read", crm.PermRead, s.batchRead)
	s.handle("POST /crm/v3/objects/{objectType}/batch/update", crm.PermWrite, s.batchUpdate)
	s.handle("POST /crm/v3/objects/{objectType}/batch/upsert", crm.PermWrite, s.batchUpsert)
	s.handle("POST /crm/v3/objects/{objectType}/search", crm.PermRead, s.searchObjects) // search.go

	// Deletes (deletes.go, bulk.go): the bin, restore, permanent delete, bulk jobs (jobs.go), audit (audit.go).
	s.handle("DELETE /crm/v3/objects/{objectType}/{id}", crm.PermDelete, s.archiveObject)
	s.handle("POST /crm/v3/objects/{objectType}/batch/archive", crm.PermDelete, s.batchArchive)
	s.handle("POST /crm/v3/objects/{objectType}/batch/restore", crm.PermRestore, s.batchRestore)
	s.handle("POST /crm/v3/objects/{objectType}/gdpr-delete", crm.PermPermanentDelete, s.gdprDelete)
	// A dry run needs read only; the handlers check delete and bulk_delete for the rest.
	s.handle("POST /crm/v3/objects/{objectType}/bulk-delete", crm.PermRead, s.bulkDelete)
	s.handle("POST /crm/v3/lists/{listId}/records/delete", crm.PermRead, s.deleteListRecords)
	s.handle("GET /crm/v3/jobs", crm.PermRead, s.listJobs)
	s.handle("GET /crm/v3/jobs/{jobId}", crm.PermRead, s.getJob)
	s.handle("GET /crm/v3/tenant", crm.PermRead, s.getTenant)
	s.handle("GET /crm/v3/audit", crm.PermRestore, s.listAudit)
	s.handle("GET /crm/v3/outbox", crm.PermRestore, s.listOutbox)

	// Operations and their undo (operations.go, SPEC S26).
	s.handle("GET /crm/v3/operations", crm.PermRead, s.listOperations)
	s.handle("GET /crm/v3/operations/{operationId}", crm.PermRead, s.getOperation)
	s.handle("POST /crm/v3/operations/{operationId}/undo", crm.PermRestore, s.undoOperation)

	// Protection rules (protection.go): records no workflow or bulk selection deletes (SPEC S25).
	s.handle("GET /crm/v3/protection", crm.PermRead, s.listProtection)
	s.handle("GET /crm/v3/protection/{name}", crm.PermRead, s.getProtection)
	s.handle("PUT /crm/v3/protection/{name}", crm.PermProtect, s.putProtection)
	s.handle("DELETE /crm/v3/protection/{name}", crm.PermProtect, s.deleteProtection)

	// Properties and custom object schemas (properties.go, schemas.go).
	s.handle("GET /crm/v3/properties/{objectType}", crm.PermRead, s.listProperties)
	s.handle("POST /crm/v3/properties/{objectType}", crm.PermSchema, s.createProperty)
	s.handle("GET /crm/v3/properties/{objectType}/{name}", crm.PermRead, s.getProperty)
	s.handle("PATCH /crm/v3/properties/{objectType}/{name}", crm.PermSchema, s.updateProperty)
	s.handle("DELETE /crm/v3/properties/{objectType}/{name}", crm.PermSchema, s.archiveProperty)
	s.handle("POST /crm/v3/properties/{objectType}/{name}/restore", crm.PermSchema, s.restoreProperty)
	// HubSpot's property batches (properties_batch.go): each input as the single endpoint.
	s.handle("POST /crm/v3/properties/{objectType}/batch/read", crm.PermRead, s.batchReadProperties)
	s.handle("POST /crm/v3/properties/{objectType}/batch/create", crm.PermSchema, s.batchCreateProperties)
	s.handle("POST /crm/v3/properties/{objectType}/batch/archive", crm.PermSchema, s.batchArchiveProperties)
	s.handle("GET /crm/v3/properties/{objectType}/groups", crm.PermRead, s.listPropertyGroups)
	s.handle("GET /crm/v3/properties/{objectType}/groups/{groupName}", crm.PermRead, s.getPropertyGroup)
	s.handle("GET /crm/v3/schemas", crm.PermRead, s.listSchemas)
	s.handle("POST /crm/v3/schemas", crm.PermSchema, s.createSchema)
	s.handle("GET /crm/v3/schemas/{objectType}", crm.PermRead, s.getSchema)
	s.handle("GET /crm-object-schemas/v3/schemas", crm.PermRead, s.listSchemas)
	s.handle("POST /crm-object-schemas/v3/schemas", crm.PermSchema, s.createSchema)
	s.handle("GET /crm-object-schemas/v3/schemas/{objectType}", crm.PermRead, s.getSchema)

	// Pipelines of deals and tickets (pipelines.go).
	s.handle("GET /crm/v3/pipelines/{objectType}", crm.PermRead, s.listPipelines)
	s.handle("GET /crm/v3/pipelines/{objectType}/{pipelineId}", crm.PermRead, s.getPipeline)
	s.handle("GET /crm/v3/pipelines/{objectType}/{pipelineId}/stages", crm.PermRead, s.listPipelineStages)
	s.handle("GET /crm/v3/pipelines/{objectType}/{pipelineId}/stages/{stageId}", crm.PermRead, s.getPipelineStage)

	// Associations (associations.go).
	s.handle("PUT /crm/v4/objects/{fromType}/{fromId}/associations/default/{toType}/{toId}", crm.PermWrite, s.associate)
	s.handle("PUT /crm/v4/objects/{fromType}/{fromId}/associations/{toType}/{toId}", crm.PermWrite, s.associateWithTypes)
	s.handle("DELETE /crm/v4/objects/{fromType}/{fromId}/associations/default/{toType}/{toId}", crm.PermWrite, s.dissociate)
	s.handle("DELETE /crm/v4/objects/{fromType}/{fromId}/associations/{toType}/{toId}", crm.PermWrite, s.dissociate)
	s.handle("GET /crm/v4/objects/{fromType}/{fromId}/associations/{toType}", crm.PermRead, s.listAssociations)
	// HubSpot's batch association endpoints (associations_batch.go): one script call a batch.
	s.handle("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/associate/default", crm.PermWrite, s.batchAssociateDefault)
	s.handle("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/create", crm.PermWrite, s.batchCreateAssociations)
	s.handle("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read", crm.PermRead, s.batchReadAssociations)
	s.handle("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/archive", crm.PermWrite, s.batchArchiveAssociations)
	s.handle("POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/labels/archive", crm.PermWrite, s.batchArchiveAssociationLabels)

	// Static lists (lists.go).
	s.handle("POST /crm/v3/lists", crm.PermWrite, s.createList)
	s.handle("POST /crm/v3/lists/{$}", crm.PermWrite, s.createList) // the path of HubSpot's clients
	s.handle("GET /crm/v3/lists", crm.PermRead, s.listLists)
	s.handle("GET /crm/v3/lists/{$}", crm.PermRead, s.listLists)
	s.handle("POST /crm/v3/lists/search", crm.PermRead, s.searchLists)
	s.handle("GET /crm/v3/lists/{listId}", crm.PermRead, s.getList)
	s.handle("GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}", crm.PermRead, s.getListByName)
	s.handle("DELETE /crm/v3/lists/{listId}", crm.PermWrite, s.deleteList)
	s.handle("PUT /crm/v3/lists/{listId}/memberships/add", crm.PermWrite, s.addListMembers)
	s.handle("PUT /crm/v3/lists/{listId}/memberships/remove", crm.PermWrite, s.removeListMembers)
	s.handle("GET /crm/v3/lists/{listId}/memberships", crm.PermRead, s.listListMembers)
	s.handle("GET /crm/v3/lists/records/{objectType}/{recordId}/memberships", crm.PermRead, s.recordMemberships)

	// Workflows (flows.go). Every plan may store and preview them; activating needs a plan with workflows.
	s.handle("GET /automation/v4/flows", crm.PermRead, s.listFlows)
	s.handle("POST /automation/v4/flows/preview", crm.PermRead, s.previewSource)
	s.handle("PUT /automation/v4/flows/{name}", crm.PermWorkflows, s.putFlow)
	s.handle("GET /automation/v4/flows/{name}", crm.PermRead, s.getFlow)
	s.handle("GET /automation/v4/flows/{name}/revisions/{rev}", crm.PermRead, s.getFlowRevision)
	s.handle("POST /automation/v4/flows/{name}/activate", crm.PermWorkflows, s.activateFlow)
	s.handle("POST /automation/v4/flows/{name}/pause", crm.PermWorkflows, s.pauseFlow)
	s.handle("GET /automation/v4/flows/{name}/preview", crm.PermRead, s.previewFlow)
	s.handle("GET /automation/v4/flows/{name}/history", crm.PermRead, s.flowHistory)
	s.handle("POST /automation/v4/flows/{name}/enrollments", crm.PermWorkflows, s.enrollRecord)
}

// ServeHTTP serves one request: it gives it a correlation id, routes it, answers unknown routes
// with the error body, recovers from panics, and records the log line and the metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.observe(w, r, s.route)
}

// route dispatches r to its handler. Requests no pattern serves get the error body with the status
// the mux would have used (404, or 405 with its Allow header).
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.status {
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		refuseUnread(w, r, errRoute(probe.status, r.Method, r.URL.Path))
	default: // a redirect of the mux (a path to clean): let it through as the mux wrote it
		s.mux.ServeHTTP(w, r)
	}
}

// headerProbe is a ResponseWriter that keeps only the status and the header, to learn how the mux
// would have answered a request that no pattern serves.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }

func (p *headerProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

func (p *headerProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}
