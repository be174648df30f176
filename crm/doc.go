// Package crm is crmflow's model of a CRM: tenants and their plans, users and permissions, object
// types and their property schemas, records, associations, lists, the recycle bin, permanent
// deletes for privacy law, bulk delete jobs, workflows with their enrollments and history, the
// audit trail and the mails the product sends. It holds the types, the errors and the [Store]
// interface; it links no database client and imports no other package of the project.
//
// # Stores
//
// [Store] is made of one interface per concern ([TenantStore], [RecordStore], [BinStore],
// [ErasureStore], [JobStore], [FlowStore], [EnrollmentStore], ...), so that a component asks for
// the part it uses. Every method takes the tenant explicitly. The implementation is
// crm/redisstore (Redis and Redis Cluster); crm/storetest is the conformance suite an
// implementation passes:
//
//	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: salt})
//	if err != nil {
//		return err
//	}
//	recs, err := st.CreateRecords(ctx, "acme", crm.Contacts, []crm.RecordInput{{Properties: props}}, crm.Actor{User: "ops@acme.example"})
//
// # Errors
//
// Stores return the sentinels and types of errors.go, wrapped: [ErrNotFound] and [*NotFoundError],
// [*ValidationError], [*EmailConflictError], [ErrStoreUnavailable] and the others. Callers test
// them with errors.Is and errors.As; api/errors.go maps them to HTTP statuses.
//
// # Time
//
// Nothing here reads the clock: deletions record their time, and a purge is given its horizon
// (now minus the deployment's retention, [DefaultRetention] unless changed), so a longer retention
// never purges early. The retention is one setting of the deployment, the same for every process;
// a shorter one makes the entries between the two horizons purgeable at once, so changing it is an
// admin's explicit act ([ErrRetentionShorter], [*RetentionMismatchError]).
package crm
