// Package api serves crmflow's HTTP API, in the shape of HubSpot's CRM v3 API, over a [crm.Store].
//
//	store, _ := crm.NewRedisStore(rdb, nil)
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
//	GET    /crm/v3/properties/{objectType}[/{name}]        property definitions [read]
//	POST   /crm/v3/properties/{objectType}                 add a property [schema], 201
//	GET    /crm/v3/schemas[/{objectType}]                  custom object types [read]
//	POST   /crm/v3/schemas                                 define a custom object type [schema], 201
//	PUT    /crm/v4/objects/{t}/{id}/associations/default/{toType}/{toId}   link two records [write]
//	DELETE /crm/v4/objects/{t}/{id}/associations[/default]/{toType}/{toId} unlink them [write], 204
//	GET    /crm/v4/objects/{t}/{id}/associations/{toType}  linked ids [read]
//	POST   /crm/v3/lists, GET /crm/v3/lists[/{listId}], DELETE /crm/v3/lists/{listId}  static lists
//	PUT    /crm/v3/lists/{listId}/memberships/add|remove   JSON array of ids [write]
//	GET    /crm/v3/lists/{listId}/memberships?limit=&after=  member ids [read]
//	DELETE /crm/v3/objects/{objectType}/{id}               move a record to the bin [delete], 204
//	POST   /crm/v3/objects/{objectType}/batch/archive      up to 100 ids to the bin [delete; bulk_delete for 2+], 204
//	POST   /crm/v3/objects/{objectType}/batch/restore      up to 100 ids back from the bin [restore]; 207 names failures
//	POST   /crm/v3/objects/contacts/gdpr-delete            permanent delete of one contact [permanent_delete], 204
//	POST   /crm/v3/objects/{objectType}/bulk-delete        ids, filter or listId, with confirmCount [bulk_delete], 202
//	POST   /crm/v3/lists/{listId}/records/delete           the list's members, never the list [bulk_delete], 202
//	GET    /crm/v3/jobs/{jobId}                            a bulk job's state and progress [read]
//	GET    /crm/v3/audit?limit=&after=                     deletions and restores, oldest first [restore]
//	GET    /healthz, /readyz                               probes, no token
//
// Object types are contacts, companies, deals, tickets, calls (or HubSpot's ids 0-1, 0-2, 0-3, 0-5,
// 0-48) and the tenant's custom types. Pages hold 10 results by default and at most 100; the next
// page's cursor is paging.next.after, absent on the last page.
//
// # Deleting
//
// Every delete but a permanent one is restorable: the record goes into its type's bin with who
// deleted it and how (archivedBy, archivedVia "api", "bulk" with the job id as archivedRef, "list"
// with the list id). A batch/archive ignores ids that are not live, as HubSpot does.
//
// A bulk delete ("all N in this view") carries confirmCount, the number the user confirmed: when it
// is not the number selected now, the answer is a 409 CONFLICT whose context gives confirmCount and
// matched, and nothing is deleted. Otherwise the selection is stored as a pending job and the answer
// is a 202 with the job's id and links.status, the path of GET /crm/v3/jobs/{jobId}. The records are
// moved by the workers, in batches: the request only selects them (a filter is evaluated against
// every live record of the type, once, during the request).
//
// Work for the workers (the bulk jobs and the permanent delete's confirmation email) is written to
// the store first and then enqueued through [Config.Tasks]. When Tasks is nil or an enqueue fails
// the request still succeeds and a warning is logged: the job or mail stays pending in Redis, and
// the worker's sweep of pending jobs and mails enqueues it.
//
// # Errors
//
// Every error has the HubSpot body {"status": "error", "message", "category", "correlationId",
// "errors": [{"message", "code", "in"}]}, where "in" names the offending field or property. The
// correlation id is also sent as the X-Correlation-Id header of every response and logged with the
// request's one log line. A record or list of another tenant is answered exactly as a missing one
// (404, OBJECT_NOT_FOUND), and a refused request (401, 403, 4xx) changes nothing. The mapping from
// errors to status and category lives in errors.go, and nowhere else.
package api
