package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
	"github.com/crmflow/crmflow/workflows"
)

// This file holds the only mapping from errors to HTTP status and error category (STYLE rule 5).
// Handlers return errors; writeError turns them into the HubSpot error body.

// The error categories of the error body, as HubSpot names them.
const (
	categoryValidation     = "VALIDATION_ERROR"
	categoryNotFound       = "OBJECT_NOT_FOUND"
	categoryMissingScopes  = "MISSING_SCOPES"
	categoryPlan           = "PLAN_NOT_ALLOWED"
	categoryMediaType      = "UNSUPPORTED_MEDIA_TYPE"
	categoryAuthentication = "INVALID_AUTHENTICATION"
	categoryConflict       = "CONFLICT"
	categoryTooLarge       = "REQUEST_TOO_LARGE"
	categoryMethod         = "METHOD_NOT_ALLOWED"
	categoryUnavailable    = "SERVICE_UNAVAILABLE"
	categoryTimeout        = "TIMEOUT"
	categoryRateLimits     = "RATE_LIMITS"
	categoryInternal       = "INTERNAL_ERROR"
)

// errorBody is the body of every error response.
type errorBody struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	Category      string              `json:"category"`
	CorrelationID string              `json:"correlationId"`
	Errors        []errorDetail       `json:"errors"`
	Context       map[string][]string `json:"context,omitempty"`
	// retryAfter is the Retry-After header of the answer, in seconds; 0 means none.
	retryAfter int
}

// Retry-After of the answers to a store in trouble (or a request past its deadline), in seconds:
// soon for a store that is down or slow, since it usually comes back by itself; later for a full
// one, which needs an operator to free memory.
const (
	retryUnavailable = 5
	retryFull        = 30
)

// errorDetail is one problem of a request, naming the field it is about in In. Context carries
// the values the problem is about (the two counts of a count mismatch, the position of an
// expression error), as HubSpot's error details do.
type errorDetail struct {
	Message string              `json:"message"`
	Code    string              `json:"code"`
	In      string              `json:"in,omitempty"`
	Context map[string][]string `json:"context,omitempty"`
}

// apiError is an error the api package itself decides: a bad query parameter, a missing
// permission, a body too large. The crm errors are mapped in mapError without being converted.
type apiError struct {
	status   int
	category string
	message  string
	details  []errorDetail
	context  map[string][]string
	// retryAfter is the Retry-After header of the answer, in seconds; 0 means none.
	retryAfter int
}

func (e *apiError) Error() string { return e.message }

// errInvalid is a 400 about one field of the request.
func errInvalid(field, code, format string, args ...any) *apiError {
	msg := fmt.Sprintf(format, args...)
	return &apiError{status: http.StatusBadRequest, category: categoryValidation, message: msg,
		details: []errorDetail{{Message: msg, Code: code, In: field}}}
}

// errNotFound is a 404 naming what was not found. A thing of another tenant gets the same answer.
func errNotFound(kind, id string) error { return &crm.NotFoundError{Kind: kind, ID: id} }

// errMissingScope is the 403 of principal p, which lacks permission perm. Its hint is the admin
// command that grants perm to that existing user, keeping the permissions it has.
func errMissingScope(p crm.Principal, perm crm.Permission) *apiError {
	return missingScope(p, []crm.Permission{perm}, fmt.Sprintf("this request needs the %q permission, which your user does not have", perm))
}

// errWorkflowScope is the 403 of principal p, which lacks the permissions perms that a
// workflow's actions need; lead says what p was doing and why they are needed.
func errWorkflowScope(p crm.Principal, perms []crm.Permission, lead string) *apiError {
	return missingScope(p, perms, lead)
}

// missingScope is a 403 MISSING_SCOPES naming perms in requiredScopes: lead, then the admin
// command that grants them to p's existing user, keeping the permissions it has.
func missingScope(p crm.Principal, perms []crm.Permission, lead string) *apiError {
	return missingScopes(p, perms, lead+": "+grantHint(p, perms))
}

// errUndoScope is the 403 of principal p, whose undo e refused because it would cancel a job or
// pause a workflow that p may not: e's message, which says what to do instead, then the admin
// command that grants what p lacks.
func errUndoScope(p crm.Principal, e *crm.UndoForbiddenError) *apiError {
	return missingScopes(p, e.Missing, e.Error()+"; or "+grantHint(p, e.Missing))
}

// missingScopes is a 403 MISSING_SCOPES of message msg naming perms in requiredScopes.
func missingScopes(p crm.Principal, perms []crm.Permission, msg string) *apiError {
	names := make([]string, len(perms))
	for i, perm := range perms {
		names[i] = string(perm)
	}
	return &apiError{status: http.StatusForbidden, category: categoryMissingScopes, message: msg,
		details: []errorDetail{{Message: msg, Code: "MISSING_SCOPES", In: "permission"}},
		context: map[string][]string{"requiredScopes": names}}
}

// grantHint says to ask an admin to grant perms to p's existing user, with the command that does
// it and keeps the permissions the user has.
func grantHint(p crm.Principal, perms []crm.Permission) string {
	grant, _ := crm.ParsePermissions(p.User.Permissions.String() + "," + crm.Permissions(perms).String()) // known names: cannot fail
	them := "it"
	if len(perms) > 1 {
		them = "them"
	}
	return fmt.Sprintf("ask an admin to grant %s (crmflow admin user set-perms %s %s --perms %s)", them, p.Tenant, p.User.Email, grant)
}

// errAuth is a 401 saying what was wrong with the credentials.
func errAuth(msg string) error {
	return &apiError{status: http.StatusUnauthorized, category: categoryAuthentication, message: msg,
		details: []errorDetail{{Message: msg, Code: "INVALID_AUTHENTICATION", In: "Authorization"}}}
}

// errTooLarge is the 413 of a body over the limit.
func errTooLarge(limit int64) error {
	msg := fmt.Sprintf("request body is larger than the limit of %d bytes: send fewer inputs per request", limit)
	return &apiError{status: http.StatusRequestEntityTooLarge, category: categoryTooLarge, message: msg,
		details: []errorDetail{{Message: msg, Code: "REQUEST_TOO_LARGE", In: "body"}}}
}

// errMediaType is the 415 of a body whose Content-Type is not one of want.
func errMediaType(got string, want []string) error {
	if got == "" {
		got = "none"
	}
	msg := fmt.Sprintf("Content-Type %s is not accepted here: send the workflow file as %s", got, strings.Join(want, ", or "))
	return &apiError{status: http.StatusUnsupportedMediaType, category: categoryMediaType, message: msg,
		details: []errorDetail{{Message: msg, Code: "UNSUPPORTED_MEDIA_TYPE", In: "Content-Type"}}}
}

// errRoute is the 404 or 405 of a request no route serves. A method the API does not know is
// named by its first bytes only, since a client may send a made-up method of any length.
func errRoute(status int, method, path string) error {
	if methodLabel(method) == methodOther && len(method) > 32 {
		method = method[:32] + "..."
	}
	cat, code, msg := categoryNotFound, "ROUTE_NOT_FOUND", fmt.Sprintf("no endpoint %s %s: check the path", method, path)
	if path == "/metrics" {
		// The metrics moved off the API's address; a scrape configured before that lands here.
		msg = fmt.Sprintf("no endpoint %s %s on the API's address: the metrics are served on the admin address, "+
			"--admin-addr (127.0.0.1:9090 by default for crmflow serve; crmflow run serves them only when given one): point the scrape there", method, path)
	}
	if status == http.StatusMethodNotAllowed {
		cat, code, msg = categoryMethod, "METHOD_NOT_ALLOWED", fmt.Sprintf("method %s is not allowed on %s", method, path)
	}
	return &apiError{status: status, category: cat, message: msg, details: []errorDetail{{Message: msg, Code: code}}}
}

// errTooManyInFlight is the 429 of a request of a tenant that already has limit requests in flight
// (Config.MaxTenantInFlight). It is refused before anything is read or changed.
func errTooManyInFlight(limit int) *apiError {
	unit := "seconds"
	if retryInFlight == 1 {
		unit = "second"
	}
	msg := fmt.Sprintf("too many requests in flight: this tenant already has %d requests running at once, the most it may have; "+
		"retry after %d %s, or send fewer requests at once", limit, retryInFlight, unit)
	ctx := map[string][]string{"maxInFlight": {strconv.Itoa(limit)}}
	return &apiError{status: http.StatusTooManyRequests, category: categoryRateLimits, message: msg,
		details: []errorDetail{{Message: msg, Code: "TOO_MANY_IN_FLIGHT", Context: ctx}}, context: ctx, retryAfter: retryInFlight}
}

// errAuthLimited is the 429 of a request that sends a token from a client address that failed
// limit times in window already (Config.AuthFailureLimit), a token not accepted recently: it is
// refused until, without a look at the token, so that no token can be guessed or the store
// flooded at speed. The tokens already in use from that address go on. Its context gives
// maxFailures, windowSeconds and retryAfterSeconds, whole numbers (the seconds of Retry-After).
func errAuthLimited(limit int, window time.Duration, until, now time.Time) *apiError {
	wait := int((until.Sub(now) + time.Second - 1) / time.Second)
	wait = max(wait, 1)
	msg := fmt.Sprintf("too many failed authentications from your network address (%d within %s): the tokens already in use "+
		"from it keep working, but any other token it sends is refused until %s UTC, in %d seconds. Check that the client "+
		"sends the whole token and that it is neither revoked nor expired (crmflow admin token list), then retry after that",
		limit, spellDuration(window), until.UTC().Format(time.TimeOnly), wait)
	// Whole seconds, as Retry-After: windowSeconds (rounded up) and retryAfterSeconds.
	ctx := map[string][]string{"maxFailures": {strconv.Itoa(limit)},
		"windowSeconds":     {strconv.FormatInt(int64((window+time.Second-1)/time.Second), 10)},
		"retryAfterSeconds": {strconv.Itoa(wait)}}
	return &apiError{status: http.StatusTooManyRequests, category: categoryRateLimits, message: msg,
		details: []errorDetail{{Message: msg, Code: "TOO_MANY_AUTH_FAILURES", In: "Authorization", Context: ctx}},
		context: ctx, retryAfter: wait}
}

// spellDuration spells d for a message: "1 minute", "10 minutes", "90 seconds", "2 hours"; a
// duration that is not a whole number of seconds as Go does ("1.5s").
func spellDuration(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if d >= u.d && d%u.d == 0 {
			n := int64(d / u.d)
			if n == 1 {
				return "1 " + u.name
			}
			return strconv.FormatInt(n, 10) + " " + u.name + "s"
		}
	}
	return d.String()
}

// errUnavailable is the 503 of a failing readiness probe. reason is said to the caller, so it
// names what is unavailable ("redis unavailable"), never an address or a raw error.
func errUnavailable(reason string) error {
	msg := "not ready: " + reason
	return &apiError{status: http.StatusServiceUnavailable, category: categoryUnavailable, message: msg,
		details: []errorDetail{{Message: msg, Code: "NOT_READY"}}}
}

// readError is the error of a request body that could not be read to its end: too large (413),
// not sent within the server's read timeout (408: a client trickling its body, or stalled), or cut
// by the connection (400). None is the server's fault, so none is a 500. ok is false for an error
// that is none of these, such as a decoding error.
func readError(err error, maxBytes int64) (_ error, ok bool) {
	var (
		mbe *http.MaxBytesError
		ne  net.Error
	)
	switch {
	case errors.As(err, &mbe):
		return errTooLarge(maxBytes), true
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		msg := "request body did not arrive within the server's read timeout: send the whole body without pausing, or a smaller one"
		return &apiError{status: http.StatusRequestTimeout, category: categoryTimeout, message: msg,
			details: []errorDetail{{Message: msg, Code: "BODY_TIMEOUT", In: "body"}}}, true
	case errors.As(err, &ne), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET):
		return errInvalid("body", "BODY_NOT_READ", "request body could not be read to its end: the connection failed while it was sent; send the request again"), true
	}
	return nil, false
}

// bodyError turns an error of json.Decoder.Decode into the error of the response.
func bodyError(err error, maxBytes int64) error {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
		ve *crm.ValidationError
	)
	if re, ok := readError(err, maxBytes); ok {
		return re
	}
	switch {
	case errors.Is(err, io.EOF):
		return errInvalid("body", "INVALID_JSON", "request body is empty: send a JSON value")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errInvalid("body", "INVALID_JSON", "request body is malformed JSON: it ends too early")
	case errors.As(err, &se):
		return errInvalid("body", "INVALID_JSON", "request body is malformed JSON at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return errInvalid(field, "INVALID_TYPE", "field %q %s", field, typeMismatch(te))
	case errors.As(err, &ve):
		return ve
	}
	if name, ok := unknownJSONField(err); ok {
		return errInvalid(name, "UNKNOWN_FIELD", "unknown field %q in request body: remove it (check its spelling)", name)
	}
	return errInvalid("body", "INVALID_JSON", "request body could not be read as JSON")
}

// unknownJSONField returns the name of the unknown field an error of a json.Decoder with
// DisallowUnknownFields reports, and false for any other error. encoding/json (v1) reports an
// unknown field only as a plain error whose text is `json: unknown field "name"`; it exports no
// type to test, so that text is read here.
func unknownJSONField(err error) (string, bool) {
	name, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	if !ok {
		return "", false
	}
	name, _ = strconv.Unquote(name)
	return name, true
}

// trailingError is the error of a body whose JSON value is followed by more than white space:
// err is what decoding the rest returned (nil when it was a second value).
func trailingError(err error, maxBytes int64) error {
	if re, ok := readError(err, maxBytes); ok {
		return re
	}
	return errInvalid("body", "INVALID_JSON", "request body has data after its JSON value: send exactly one JSON value")
}

// typeMismatch says, in plain words, what kind of JSON value a field takes and what it was sent
// instead ("must be a whole number, not 10.5"), with what to do when that is not plain.
func typeMismatch(te *json.UnmarshalTypeError) string {
	want := "a " + jsonKind(te.Type)
	switch te.Type.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "a whole number"
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
		want = "an " + jsonKind(te.Type)
	case reflect.Bool:
		want = "true or false"
	}
	got, literal, _ := strings.Cut(te.Value, " ")
	if r := []rune(literal); len(r) > crm.MaxEcho { // a number of a megabyte makes a message of a line
		literal = string(r[:crm.MaxEcho]) + "…"
	}
	switch {
	case literal != "" && want == "a whole number" && strings.Trim(strings.TrimPrefix(strings.TrimSuffix(literal, "…"), "-"), "0123456789") == "":
		return fmt.Sprintf("must be a whole number, and %s is too far from zero for one: give a number nearer zero", literal)
	case literal != "":
		return fmt.Sprintf("must be %s, not %s", want, literal)
	case got == "string" && (want == "a whole number" || want == "a number" || want == "true or false"):
		return fmt.Sprintf("must be %s, not a string: write it without quotes", want)
	case got == "bool":
		return fmt.Sprintf("must be %s, not true or false", want)
	case got == "array" || got == "object":
		return fmt.Sprintf("must be %s, not an %s", want, got)
	}
	return fmt.Sprintf("must be %s, not a %s", want, got)
}

// jsonKind names the JSON kind a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	default:
		return "value of another kind"
	}
}

// mapError gives the status and body of err. The body's CorrelationID is left for the caller.
// The message is the typed error's own (not the wrapping chain, which may name internals). Errors it
// does not know are a 500 whose message reveals nothing of the cause.
func mapError(err error) (int, errorBody) {
	var (
		ae  *apiError
		ves crm.ValidationErrors
		ve  *crm.ValidationError
		nf  *crm.NotFoundError
		ec  *crm.EmailConflictError
		uc  *crm.UniqueConflictError
		be  *crm.BlockedEmailError
		ce  *crm.ConflictError
		cm  *crm.CountMismatchError
		pr  *crm.ProtectedError
		pe  *crm.PlanError
		nu  *crm.NothingToUndoError
		uf  *crm.UndoForbiddenError
		pu  *crm.PropertyInUseError
		te  *triggers.Error
		wve *workflows.ValidationError
	)
	one := func(status int, category, code, in, msg string) (int, errorBody) {
		return status, errorBody{Status: "error", Category: category, Message: msg,
			Errors: []errorDetail{{Message: msg, Code: code, In: in}}}
	}
	switch {
	case errors.As(err, &ae):
		return ae.status, errorBody{Status: "error", Category: ae.category, Message: ae.message,
			Errors: boundDetails(ae.details), Context: ae.context, retryAfter: ae.retryAfter}
	case errors.Is(err, crm.ErrUnauthenticated):
		msg := "the bearer token is invalid, unknown, revoked or expired: ask an admin for a new one (crmflow admin token create)"
		if ue := (*crm.UnauthenticatedError)(nil); errors.As(err, &ue) {
			// The store said why (an expired token, a disabled user) and what to do; only a caller
			// holding the token's secret can learn it.
			msg = "the bearer token is refused: " + ue.Reason
		}
		return one(http.StatusUnauthorized, categoryAuthentication, "INVALID_AUTHENTICATION", "Authorization", msg)
	case errors.As(err, &ec):
		status, body := one(http.StatusConflict, categoryConflict, "EMAIL_CONFLICT", "email", ec.Error())
		body.Context = map[string][]string{"existingId": {string(ec.BlockingID)}}
		return status, body
	case errors.As(err, &uc):
		status, body := one(http.StatusConflict, categoryConflict, "UNIQUE_VALUE_CONFLICT", uc.Property, uc.Error())
		body.Context = map[string][]string{"existingId": {string(uc.BlockingID)}, "property": {uc.Property}, "value": {uc.Value}}
		return status, body
	case errors.As(err, &be):
		return one(http.StatusBadRequest, categoryValidation, "BLOCKED_EMAIL", "email", be.Error())
	case errors.As(err, &pr):
		// A delete of records protection rules protect (SPEC S25): nothing was deleted. The context
		// names each record with its rule.
		ids, rules := make([]string, len(pr.Records)), make([]string, len(pr.Records))
		for i, rec := range pr.Records {
			ids[i], rules[i] = string(rec.ID), rec.Rule
		}
		ctx := map[string][]string{"id": ids, "rule": rules}
		status, body := one(http.StatusConflict, categoryConflict, "PROTECTED", "id", pr.Error())
		body.Errors[0].Context, body.Context = ctx, ctx
		return status, body
	case errors.As(err, &cm):
		// The confirmed count of a bulk delete is not the count matched now: nothing was deleted.
		ctx := map[string][]string{
			"confirmCount": {strconv.FormatInt(cm.Confirmed, 10)},
			"matched":      {strconv.FormatInt(cm.Matched, 10)},
		}
		if n := cm.Protected.Total(); n > 0 {
			ctx["protected"] = []string{strconv.FormatInt(n, 10)}
		}
		status, body := one(http.StatusConflict, categoryConflict, "COUNT_MISMATCH", "confirmCount", cm.Error())
		body.Errors[0].Context, body.Context = ctx, ctx
		return status, body
	case errors.As(err, &nu):
		// An undo of an operation with nothing left in the bin (SPEC S26): no job was started. The
		// context names the operation and its latest undo job, where the restored records are.
		ctx := map[string][]string{"operation": {nu.Operation}}
		if nu.UndoJob != "" {
			ctx["undoJob"] = []string{nu.UndoJob}
		}
		status, body := one(http.StatusConflict, categoryConflict, "NOTHING_TO_UNDO", "operationId", nu.Error())
		body.Errors[0].Context, body.Context = ctx, ctx
		return status, body
	case errors.As(err, &uf):
		// An undo that would cancel a job or pause a workflow, asked by a user who may not (or who
		// was disabled meanwhile): nothing changed. The undo handler answers missing permissions
		// with errUndoScope, which adds the grant command.
		// A user disabled or removed after the request was signed in, and before the undo's
		// script checked it, lacks no permission: its token is refused, as the next request's
		// would be (401 INVALID_AUTHENTICATION), and its code says why (USER_DISABLED,
		// USER_MISSING) and the message what to do.
		ctx := map[string][]string{"operation": {uf.Operation}}
		status, category, code, in := http.StatusForbidden, categoryMissingScopes, "MISSING_SCOPES", "permission"
		if uf.Code != "" {
			status, category, code, in = http.StatusUnauthorized, categoryAuthentication, uf.Code, "user"
			ctx["user"] = []string{uf.User}
		}
		if len(uf.Missing) > 0 {
			ctx["requiredScopes"] = strings.Split(crm.Permissions(uf.Missing).String(), ",")
		}
		status, body := one(status, category, code, in, uf.Error())
		body.Context = ctx
		return status, body
	case errors.As(err, &pu):
		// A change or an archive of a property that active workflows, protection rules, selecting
		// bulk deletes or stored values still use: nothing changed. The context names them.
		ctx := map[string][]string{"property": {pu.Property}}
		for _, w := range pu.Workflows {
			ctx["workflows"] = append(ctx["workflows"], w.Name)
		}
		for _, r := range pu.Rules {
			ctx["protectionRules"] = append(ctx["protectionRules"], r.Name)
		}
		for _, j := range pu.Jobs {
			ctx["jobs"] = append(ctx["jobs"], j.Name)
		}
		if pu.Records > 0 {
			ctx["records"] = []string{strconv.FormatInt(pu.Records, 10)}
		}
		status, body := one(http.StatusConflict, categoryConflict, "PROPERTY_IN_USE", pu.Property, pu.Error())
		body.Errors[0].Context, body.Context = ctx, ctx
		return status, body
	case errors.As(err, &wve) && len(wve.Problems) > 0:
		return http.StatusBadRequest, workflowErrorBody(wve)
	case errors.As(err, &pe):
		// The plan does not include workflows (SPEC S18): not a missing permission of the user, and
		// nothing changed.
		var allowed []string
		for _, p := range crm.Plans {
			if p.AllowsWorkflows() {
				allowed = append(allowed, string(p))
			}
		}
		ctx := map[string][]string{"plan": {string(pe.Plan)}, "requiredPlans": allowed}
		status, body := one(http.StatusForbidden, categoryPlan, "PLAN_NOT_ALLOWED", "plan", pe.Error())
		body.Errors[0].Context, body.Context = ctx, ctx
		return status, body
	case errors.As(err, &te):
		// A filter expression (of a bulk delete) that does not compile. Workflow documents report their
		// triggers' errors with the YAML path themselves; the only bare *triggers.Error is a filter.
		return http.StatusBadRequest, filterErrorBody(te)
	// ValidationErrors before *ValidationError: errors.As would find its first element through Unwrap.
	case errors.As(err, &ves) && len(ves) > 0:
		return http.StatusBadRequest, validationErrorsBody(ves)
	case errors.As(err, &ve):
		return one(http.StatusBadRequest, categoryValidation, ve.Code, ve.Field, ve.Message)
	case errors.As(err, &nf):
		return one(http.StatusNotFound, categoryNotFound, "OBJECT_NOT_FOUND", nf.Kind, nf.Error())
	case errors.Is(err, crm.ErrNotFound):
		return one(http.StatusNotFound, categoryNotFound, "OBJECT_NOT_FOUND", "", "not found")
	case errors.As(err, &ce):
		code := ce.Code
		if code == "" {
			code = "CONFLICT"
		}
		return one(http.StatusConflict, categoryConflict, code, "", ce.Message)
	case errors.Is(err, crm.ErrTenantExists), errors.Is(err, crm.ErrUserExists):
		return one(http.StatusConflict, categoryConflict, "CONFLICT", "", "it already exists")
	// A store in trouble and a request past its deadline are 503s with Retry-After (SPEC S27): the
	// request may succeed later, and the message says which without naming internals.
	case errors.Is(err, crm.ErrStoreFull):
		status, body := one(http.StatusServiceUnavailable, categoryUnavailable, "STORE_FULL", "",
			"the store is full: it refuses writes until an operator frees memory; reads still work, retry later")
		body.retryAfter = retryFull
		return status, body
	case errors.Is(err, crm.ErrNotReplicated):
		status, body := one(http.StatusServiceUnavailable, categoryUnavailable, "NOT_REPLICATED", "",
			"the change was made, but not yet copied to enough replicas of the store: it could be lost in a failover; retrying is safe")
		body.retryAfter = retryUnavailable
		return status, body
	case errors.Is(err, crm.ErrStoreUnavailable):
		status, body := one(http.StatusServiceUnavailable, categoryUnavailable, "STORE_UNAVAILABLE", "",
			"the store is unavailable, retry later")
		body.retryAfter = retryUnavailable
		return status, body
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		status, body := one(http.StatusServiceUnavailable, categoryTimeout, "TIMEOUT", "",
			"the request did not finish within its deadline: retry later, or ask for less at once (fewer records, a narrower filter or trigger)")
		body.retryAfter = retryUnavailable
		return status, body
	default:
		return one(http.StatusInternalServerError, categoryInternal, "INTERNAL_ERROR", "",
			"internal error: retry later, and quote the correlationId to support if it persists")
	}
}

// maxErrorDetails bounds the problems one error body lists, as workflows.MaxProblems bounds a
// workflow file's: a body of thousands of bad properties would otherwise be answered with an error
// many times its size (SPEC S27).
const maxErrorDetails = 100

// boundDetails returns the first maxErrorDetails of details and, when there were more, one more
// detail saying how many were left out: a request of thousands of bad ids is answered with a
// hundred of them, not with an error many times its size.
func boundDetails(details []errorDetail) []errorDetail {
	if len(details) <= maxErrorDetails {
		return details
	}
	left := len(details) - maxErrorDetails
	return append(details[:maxErrorDetails:maxErrorDetails], errorDetail{Code: "TOO_MANY_ERRORS", In: "body",
		Message: fmt.Sprintf("%d more problems were left out: fix these and send the request again", left)})
}

// validationErrorsBody is the 400 of ves: a detail per problem and a message joining them, the
// first maxErrorDetails of them, and then one more saying how many were left out.
func validationErrorsBody(ves crm.ValidationErrors) errorBody {
	var details []errorDetail
	for _, v := range ves {
		details = append(details, errorDetail{Message: v.Message, Code: v.Code, In: v.Field})
	}
	body := errorBody{Status: "error", Category: categoryValidation, Errors: boundDetails(details)}
	msgs := make([]string, len(body.Errors))
	for i, d := range body.Errors {
		msgs[i] = d.Message
	}
	body.Message = strings.Join(msgs, "; ")
	return body
}

// filterErrorBody is the 400 of a filter that does not compile: the message gives the position as
// line:column, and the detail's context gives it again with expr's snippet of the source (a caret
// under the column).
func filterErrorBody(te *triggers.Error) errorBody {
	msg := "filter is invalid: " + te.Message
	ctx := map[string][]string{}
	if te.Line > 0 {
		msg = fmt.Sprintf("filter is invalid at %d:%d (line:column): %s", te.Line, te.Column, te.Message)
		ctx["line"] = []string{strconv.Itoa(te.Line)}
		ctx["column"] = []string{strconv.Itoa(te.Column)}
	}
	if te.Snippet != "" {
		ctx["snippet"] = []string{te.Snippet}
	}
	if len(ctx) == 0 {
		ctx = nil
	}
	return errorBody{Status: "error", Category: categoryValidation, Message: msg,
		Errors: []errorDetail{{Message: msg, Code: "INVALID_FILTER", In: "filter", Context: ctx}}}
}

// errExpression is the 400 of an expression of field (a protection rule's when) that does not
// compile: the message gives the position as line:column, and the detail's context gives it again
// with expr's snippet of the source (a caret under the column).
func errExpression(field string, te *triggers.Error) *apiError {
	body := filterErrorBody(te)
	msg := strings.Replace(body.Message, "filter is invalid", field+" is invalid", 1)
	d := body.Errors[0]
	return &apiError{status: http.StatusBadRequest, category: categoryValidation, message: msg,
		details: []errorDetail{{Message: msg, Code: "INVALID_EXPRESSION", In: field, Context: d.Context}}, context: d.Context}
}

// workflowErrorBody is the 400 of a workflow file with problems: the message lists them as
// crmflow validate prints them ("flow.yaml:3:20: trigger: ..."), one per line, and each problem is
// an error detail whose context gives its line, column and path (and the line with a caret under
// the column, when known).
func workflowErrorBody(ve *workflows.ValidationError) errorBody {
	body := errorBody{Status: "error", Category: categoryValidation, Message: ve.Error()}
	for _, p := range ve.Problems {
		in := p.Path
		if in == "" {
			in = "body"
		}
		ctx := map[string][]string{
			"line":   {strconv.Itoa(p.Line)},
			"column": {strconv.Itoa(p.Column)},
			"path":   {p.Path},
		}
		if p.Snippet != "" {
			ctx["snippet"] = []string{p.Snippet}
		}
		body.Errors = append(body.Errors, errorDetail{Message: p.String(), Code: "INVALID_WORKFLOW", In: in, Context: ctx})
	}
	return body
}

// mapRequestError gives the status and body of err as the answer to r: that of mapError, except
// for a request that changes something whose change reached the store and got no answer
// (crm.ErrOutcomeUnknown). That one may have been made, so "retry later" would make a create
// twice: the answer says so, and to read before retrying. A read changes nothing and keeps
// mapError's answer.
func mapRequestError(r *http.Request, err error) (int, errorBody) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && errors.Is(err, crm.ErrOutcomeUnknown) {
		msg := "the store did not confirm the change in time: it may have been made or not. Read the records before you retry, or the retry may make the change twice"
		return http.StatusServiceUnavailable, errorBody{Status: "error", Category: categoryUnavailable, Message: msg,
			Errors: []errorDetail{{Message: msg, Code: "OUTCOME_UNKNOWN"}}, retryAfter: retryUnavailable}
	}
	return mapError(err)
}

// writeError writes err as an error response and notes it for the request's log line.
// Only errors mapped to a 5xx are logged with their text, since 4xx texts may echo request data.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := mapRequestError(r, err)
	body.CorrelationID = correlationID(r.Context())
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="crmflow"`)
	}
	if body.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(body.retryAfter))
	}
	if rec, ok := w.(*recorder); ok {
		rec.category = body.Category
		if status >= 500 {
			rec.err = err
		}
	}
	writeJSON(w, status, body)
}
