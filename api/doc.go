// Package api serves crmflow's HTTP API, in the shape of HubSpot's CRM v3 API, over a [crm.Store].
//
//	store, _ := redisstore.New(rdb, &redisstore.Config{EmailSalt: os.Getenv("CRMFLOW_EMAIL_SALT")})
//	srv, err := api.New(store, &api.Config{Logger: logger, Registerer: prometheus.DefaultRegisterer})
//	if err != nil { ... }
//	http.ListenAndServe(":8080", srv)
//
// # Endpoints
//
// Every endpoint but the probes needs "Authorization: Bearer <token>" (see crm.Store.CreateToken)
// and the permission in brackets:
//
//	POST   /crm/v3/objects/{objectType}                    create a record [write], 201
//	GET    /crm/v3/objects/{objectType}?limit=&after=      page through records [read]
//	GET    /crm/v3/objects/{objectType}/{id}               read a record (?archived=true: from the bin) [read]
//	PATCH  /crm/v3/objects/{objectType}/{id}               change a record's properties [write]
//	POST   /crm/v3/objects/{objectType}/batch/create       up to 100 records, all or none [write], 201
//	POST   /crm/v3/objects/{objectType}/batch/read         up to 100 ids; 207 names the missing ones [read]
//	POST   /crm/v3/objects/{objectType}/batch/update       up to 100 records, all or none [write]
//	POST   /crm/v3/objects/contacts/batch/upsert           up to 100 contacts by email, each created or updated [write]
//	GET    /crm/v3/properties/{objectType}[/{name}]        property definitions (?archived=true: the archived ones) [read]
//	POST   /crm/v3/properties/{objectType}                 add a property [schema], 201
//	DELETE /crm/v3/properties/{objectType}/{name}          archive a property; its records keep their values [schema], 204
//	POST   /crm/v3/properties/{objectType}/{name}/restore  bring an archived property back, values and all [schema]
//	POST   /crm/v3/properties/{objectType}/batch/read      up to 100 names (archived: the archived ones) [read]
//	POST   /crm/v3/properties/{objectType}/batch/create    up to 100 properties, all or none [schema], 201
//	POST   /crm/v3/properties/{objectType}/batch/archive   up to 100 names, all or none [schema], 204
//	GET    /crm/v3/schemas[/{objectType}]                  custom object types [read]
//	POST   /crm/v3/schemas                                 define a custom object type [schema], 201
//	GET    /crm-object-schemas/v3/schemas[/{objectType}]   the same reads at HubSpot's paths [read]
//	GET    /crm/v3/pipelines/{objectType}[/{pipelineId}[/stages[/{stageId}]]]  deals' and tickets' pipelines [read]
//	PUT    /crm/v4/objects/{t}/{id}/associations/default/{toType}/{toId}   link two records [write]
//	DELETE /crm/v4/objects/{t}/{id}/associations[/default]/{toType}/{toId} unlink them [write], 204
//	GET    /crm/v4/objects/{t}/{id}/associations/{toType}  linked ids [read]
//	POST   /crm/v3/lists, GET /crm/v3/lists[/{listId}], DELETE /crm/v3/lists/{listId}  static lists
//	POST   /crm/v3/lists/search                            lists by name, offset and count [read]
//	GET    /crm/v3/lists/object-type-id/{t}/name/{name}    the list of type t with that whole name, any case [read]
//	PUT    /crm/v3/lists/{listId}/memberships/add|remove   JSON array of ids [write]
//	GET    /crm/v3/lists/{listId}/memberships?limit=&after=  member ids [read]
//	DELETE /crm/v3/objects/{objectType}/{id}               move a record to the bin [delete], 204
//	POST   /crm/v3/objects/{objectType}/batch/archive      up to 100 ids to the bin [delete; bulk_delete for 2+], 204
//	POST   /crm/v3/objects/{objectType}/batch/restore      up to 100 ids back from the bin [restore]; 207 names failures
//	POST   /crm/v3/objects/contacts/gdpr-delete            permanent delete of one contact [permanent_delete], 204 (Crmflow-Calls-Erased)
//	POST   /crm/v3/objects/{objectType}/bulk-delete        ids, filter or listId, with confirmCount [bulk_delete; a dryRun: read], 202
//	POST   /crm/v3/lists/{listId}/records/delete           the list's members, never the list [bulk_delete; a dryRun: read], 202
//	GET    /crm/v3/jobs/{jobId}                            a bulk job's state and progress [read]
//	GET    /crm/v3/audit?limit=&after=                     deletions, restores, user and token changes, oldest first [restore]
//	PUT    /crm/v3/protection/{name}                       {"objectType", "when"}: a protection rule [protect], 201 or 200
//	GET    /crm/v3/protection[/{name}]                     the protection rules [read]
//	DELETE /crm/v3/protection/{name}                       remove a rule [protect], 204
//	PUT    /automation/v4/flows/{name}                     store a workflow file (YAML body) [workflows], 201 or 200
//	GET    /automation/v4/flows                            every workflow with its state and revision [read]
//	GET    /automation/v4/flows/{name}                     one, with its latest source and its revisions [read]
//	GET    /automation/v4/flows/{name}/revisions/{rev}     one revision's source [read]
//	POST   /automation/v4/flows/{name}/activate            {"enrollExisting": bool}, optional [workflows]
//	POST   /automation/v4/flows/{name}/pause               [workflows]
//	GET    /automation/v4/flows/{name}/preview?limit=      what it would enroll now, changing nothing [read]
//	POST   /automation/v4/flows/preview?limit=             the same for a YAML body, not stored [read]
//	GET    /automation/v4/flows/{name}/history?recordId=   one record's events in it, oldest first [read]
//	POST   /automation/v4/flows/{name}/enrollments         {"recordId": "..."}: manual enrollment [workflows], 204
//	GET    /healthz, /readyz                               probes, no token
//
// Object types are contacts, companies, deals, tickets, calls (or HubSpot's ids 0-1, 0-2, 0-3, 0-5,
// 0-48) and the tenant's custom types. Pages hold 10 results by default and at most 100; the next
// page's cursor is paging.next.after, absent on the last page.
//
// # HubSpot's clients
//
// Creates take HubSpot's inline associations (see inlineAssociations), reads and updates take
// idProperty (email for contacts, or any property created with hasUniqueValue, which also keys
// batch upsert) and propertiesWithHistory (the current value only), and reads take
// ?associations=, so that HubSpot's official clients work unchanged: the README lists
// what is compatible endpoint by endpoint, and cmd/crmflow's TestHubSpotNodeClient proves it with
// the Node client.
//
// # Deleting
//
// Every delete but a permanent one is restorable: the record goes into its type's bin with who
// deleted it and how (archivedBy, archivedVia "api", "bulk" with the job id as archivedRef, "list"
// with the list id). A batch/archive ignores ids that are not live, as HubSpot does; an input
// without an id, with one that is not a record id, or repeating an earlier one refuses the batch.
// A bulk delete by ids is checked the same way (an id given twice counts once there): a 400 names
// each bad entry (ids[i]) and nothing is stored.
//
// A bulk delete ("all N in this view") carries confirmCount, the number the user confirmed: when it
// is not the number selected now, the answer is a 409 CONFLICT whose context gives confirmCount and
// matched, and nothing is deleted. Otherwise the selection is stored as a pending job and the answer
// is a 202 with the job's id and links.status, the path of GET /crm/v3/jobs/{jobId}. The records are
// moved by the workers, in batches: the request only selects them (a filter is evaluated against
// every live record of the type, once, during the request).
//
// Protection rules (SPEC S25) protect the records their expression matches: a single delete of one
// is a 409 PROTECTED naming the rule, a batch/archive holding one is refused whole, and bulk and
// list deletes leave them out (confirmCount counts the others; the job counts them by rule). A bulk
// delete with "dryRun": true answers 200 with what it would do ([BulkDryRun]), changing nothing.
//
// Work for the workers (the bulk jobs and the permanent delete's confirmation email) is written to
// the store first and then enqueued through [Config.Tasks]. When Tasks is nil or an enqueue fails
// the request still succeeds and a warning is logged: the job or mail stays pending in Redis, and
// the worker's sweep of pending jobs and mails enqueues it.
//
// # Workflows
//
// A workflow is stored as the YAML file its team keeps in git (see package workflows), sent with
// Content-Type application/yaml, text/yaml or application/x-yaml. Every PUT validates it against
// the tenant's live property schema and custom object types, the action registry
// ([Config.Actions]) and the tenant's lists; its name must be the {name} of the URL. A file with
// problems is a 400 VALIDATION_ERROR whose message lists them as `crmflow validate` prints them
// ("flow.yaml:3:20: trigger: ..."), with one error per problem, code INVALID_WORKFLOW, and
// context.line, context.column and context.path. A valid file becomes a new revision (201), or
// nothing when it equals the latest one (200). Storing never activates a revision.
//
// Every plan may store, read and preview workflows; only professional and enterprise tenants may
// activate them. Others get a 403 with category PLAN_NOT_ALLOWED (not MISSING_SCOPES, which is
// about the user's permissions) whose context names the plan, and nothing changes. Activation
// activates the latest revision. With enrollExisting (which defaults to the file's
// enroll_existing) the records that match already are enrolled by a worker, through
// [Tasks.EnqueueBackfill]; the answer's backfill.queued says whether that was enqueued. No sweep
// recovers a backfill that was not, so then the activation stands (200) and backfill.warning says
// to activate again, which is harmless.
//
// A preview evaluates the trigger and the suppression of the latest revision (or of a file sent
// to POST .../flows/preview) on every live record of the type, at [Config.Clock]'s now, and
// returns total, matched (would enroll), suppressed, errors (run-time failures, which would not
// enroll) and a sample of the matched records. It only reads.
//
// # Errors
//
// Every error has the HubSpot body {"status": "error", "message", "category", "correlationId",
// "errors": [{"message", "code", "in"}]}, where "in" names the offending field or property. The
// correlation id is also sent as the X-Correlation-Id header of every response and logged with the
// request's one log line. A record or list of another tenant is answered exactly as a missing one
// (404, OBJECT_NOT_FOUND), and a refused request (401, 403, 4xx) changes nothing. The mapping from
// errors to status and category lives in errors.go, and nowhere else.
//
// # Limits and a store in trouble
//
// Every request runs within [Config.RequestTimeout] (15s by default) and stops when its client goes
// away; previews and bulk delete selections check it between records. A request past its deadline
// answers 503 with Retry-After and code TIMEOUT. A store in trouble answers 503
// SERVICE_UNAVAILABLE with Retry-After, never a bare 500: code STORE_UNAVAILABLE, "the store is
// unavailable, retry later", for a Redis that is down or hung ([crm.ErrStoreUnavailable]); code
// OUTCOME_UNKNOWN, "it may have been made or not. Read the records before you retry", for a change
// (any method but GET and HEAD) that reached the store and got no answer ([crm.ErrOutcomeUnknown]); and
// code STORE_FULL, "the store is full", for a write refused by a Redis out of memory
// ([crm.ErrStoreFull]). A tenant may have at most [Config.MaxTenantInFlight] requests (64 by
// default) running at once in one Server: one more answers 429 RATE_LIMITS with Retry-After and
// code TOO_MANY_IN_FLIGHT at once, so that one tenant's burst of searches, batches or previews
// does not hold every connection and the store while the other tenants wait. A client address
// with [Config.AuthFailureLimit] failed tokens (30 by default) within [Config.AuthFailureWindow] (a
// minute) of its first is refused with 429 RATE_LIMITS, Retry-After and code
// TOO_MANY_AUTH_FAILURES (context maxFailures, windowSeconds, retryAfterSeconds: whole numbers)
// until the window ends, without a lookup, unless the Server accepted its
// token within the last 10 minutes: the tokens already in use from that address go on, looked
// up as usual, so that one careless client behind a NAT or a proxy does not lock out the others,
// and a guessed token, never accepted, waits. A request with a bad
// token, for no route, or over its tenant's cap is answered without reading its body, and its
// connection is closed. Metrics labels come from bounded sets: a method the API
// does not know is OTHER, in the metrics and in the log line.
package api
