// Package actions is the registry of workflow actions: what a workflow can do to a record once it is
// enrolled.
//
// An action type ([Definition]) declares its name, the object types whose workflows may use it, the
// parameters it takes beside `type:`, and how those parameters are checked against the property
// schema of the workflow's object type. Checking returns a [Step]; binding a step to its
// dependencies ([Deps]) and to one run ([Invocation]) gives an [Action], which runs on one record:
//
//	reg := actions.Default()
//	cfg, err := reg.Configure("set_property", actions.Params{"property": "lifecyclestage", "value": "lead"}, schema)
//	if err != nil {
//		return err // actions.FieldErrors, each naming its parameter
//	}
//	res, err := cfg.Bind(actions.Deps{Store: store}, actions.Invocation{Workflow: "nurture-leads", Key: key}).
//		Run(ctx, tenant, rec)
//
// # Built-in actions
//
// [Default] returns a registry holding the built-in actions:
//
//	delete_contact     moves the contact to the recycle bin (restorable; contact workflows only)
//	set_property       property, value: sets one property (value normalized by the schema; "" clears)
//	add_to_list        list: adds the record to a static list of its object type
//	remove_from_list   list: removes the record from a static list
//	delay              duration ("3d", "12h", "1d12h", "90m") or until (a datetime or date property)
//	notify_user        to, subject, body: emails a user of the tenant; {{property}} inserts a value
//	                   when the worker delivers the email (the task holds the template and the
//	                   record reference only)
//
// There is no permanent delete among them, and there can be none: the store an action is bound to
// refuses [crm.Store.PermanentDeleteContact] (see [ErrPermanentDelete]).
//
// # Running
//
// Every Run is idempotent: asynq delivers a task at least once, so a step may run again after a
// crash. Archiving an archived contact, setting a property to the value it has, adding a member twice
// and removing a non-member change nothing; notify_user's email carries an idempotency key derived
// from [Invocation.Key], so a retried step sends it once. An error that retrying cannot fix (a list
// that no longer exists, a user who left the tenant) wraps [ErrCannotRun]. A record that is no longer
// live is not an error: the [Result] says the step was skipped.
//
// # Extending
//
// [Action] is a one-method interface with a [Func] adapter; [Middleware] wraps an Action (for
// logging, metrics or tracing) and [Chain] applies several. A new action type is a [Definition]
// given to [Registry.Register] (which panics on a duplicate name, for hard-coded registration) or
// [Registry.TryRegister] (which returns the error).
package actions
