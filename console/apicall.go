package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// APIError is an answer of the API that refused a request the console made on a user's behalf:
// its status and its error body. The console shows its message as the API wrote it.
type APIError struct {
	Status   int    `json:"-"`
	Message  string `json:"message"`
	Category string `json:"category"`
	// Errors are the details of the refusal: for a workflow, one per problem, with its line and
	// column in the context.
	Errors []APIErrorDetail `json:"errors"`
	// Context holds the values the refusal names (a permission, a plan, a blocking record).
	Context map[string][]string `json:"context"`
}

// APIErrorDetail is one detail of an APIError.
type APIErrorDetail struct {
	Message string              `json:"message"`
	Code    string              `json:"code"`
	Context map[string][]string `json:"context"`
}

// Error implements error.
func (e *APIError) Error() string { return fmt.Sprintf("api answered %d: %s", e.Status, e.Message) }

// bufferedResponse is the http.ResponseWriter an in-process API call writes to.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

// call makes one request to the API in process, as the user of sess: method and path (with its
// query), in encoded as the JSON body when non-nil. A 2xx answer is decoded into out (when non-nil
// and the answer has a body) and its status returned; any other answer is an *APIError. The
// request carries the user's token in its Authorization header only, like any client's.
func (c *Console) call(r *http.Request, sess *session, method, path string, in, out any) (int, error) {
	var body bytes.Buffer
	contentType := ""
	if in != nil {
		if err := json.NewEncoder(&body).Encode(in); err != nil {
			return 0, fmt.Errorf("encode the request to %s: %w", path, err)
		}
		contentType = "application/json"
	}
	return c.send(r, sess, method, path, contentType, &body, out)
}

// callYAML is call with a YAML body (a workflow file) sent as it is.
func (c *Console) callYAML(r *http.Request, sess *session, method, path, src string, out any) (int, error) {
	return c.send(r, sess, method, path, "application/yaml", bytes.NewBufferString(src), out)
}

// send makes the request of call with body, of contentType when not empty.
func (c *Console) send(r *http.Request, sess *session, method, path, contentType string, body *bytes.Buffer, out any) (int, error) {
	if err := pathSteps(path); err != nil {
		return err.Status, err
	}
	req, err := http.NewRequestWithContext(r.Context(), method, path, body)
	if err != nil {
		return 0, fmt.Errorf("build the request to %s: %w", path, err)
	}
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("Authorization", "Bearer "+sess.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res := &bufferedResponse{header: http.Header{}}
	c.api.ServeHTTP(res, req)
	if res.status == 0 {
		res.status = http.StatusOK
	}
	if res.status < 200 || res.status > 299 {
		apiErr := &APIError{Status: res.status}
		if json.Unmarshal(res.body.Bytes(), apiErr) != nil || apiErr.Message == "" {
			apiErr.Message = http.StatusText(res.status)
		}
		return res.status, apiErr
	}
	if out != nil && res.body.Len() > 0 {
		if err := json.Unmarshal(res.body.Bytes(), out); err != nil {
			return res.status, fmt.Errorf("decode the answer of %s %s: %w", method, path, err)
		}
	}
	return res.status, nil
}

// pathSteps refuses a path of the API whose name or id (typed in a form or a query: a rule's
// name, a workflow's, an operation's id) is empty, "." or "..": the API's router would answer it
// with a redirect to another address (or "no endpoint"), not with what is wrong with the value.
func pathSteps(path string) *APIError {
	p, _, _ := strings.Cut(path, "?")
	for _, step := range strings.Split(p, "/")[1:] {
		v, err := url.PathUnescape(step)
		if err != nil {
			v = step
		}
		var msg string
		switch v {
		case "":
			msg = "a name or an id is missing: fill it in and send again"
		case ".", "..":
			msg = fmt.Sprintf("%q is not a name or an id: \".\" and \"..\" name nothing; use letters or digits", v)
		default:
			continue
		}
		return &APIError{Status: http.StatusBadRequest, Category: "VALIDATION_ERROR", Message: msg,
			Errors: []APIErrorDetail{{Message: msg, Code: "INVALID_NAME"}}}
	}
	return nil
}
