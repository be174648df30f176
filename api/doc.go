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
//	GET    /healthz, /readyz                               probes, no token
//
// Object types are contacts, companies, deals, tickets, calls (or HubSpot's ids 0-1, 0-2, 0-3, 0-5,
// 0-48) and the tenant's custom types. Pages hold 10 results by default and at most 100; the next
// page's cursor is paging.next.after, absent on the last page.
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
