package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/crmflow/crmflow/crm"
)

// The limits of the batch association endpoints. HubSpot reads the associations of at most 1,000
// records per batch/read; a batch that makes or removes associations takes at most 2,000 pairs.
// Whatever its size, a batch costs the store one script call.
const (
	maxAssociationPairs      = 2000
	maxAssociationReadInputs = 1000
)

// objectIDInput is a record named by id in a batch association input: {"id": "123"}.
type objectIDInput struct {
	ID flexID `json:"id"`
}

// defaultPairInput is one input of batch/associate/default: HubSpot's PublicDefaultAssociationMultiPost.
type defaultPairInput struct {
	From *objectIDInput `json:"from"`
	To   *objectIDInput `json:"to"`
}

// typedPairInput is one input of batch/create and batch/labels/archive: HubSpot's
// PublicAssociationMultiPost.
type typedPairInput struct {
	From  *objectIDInput    `json:"from"`
	To    *objectIDInput    `json:"to"`
	Types []associationType `json:"types"`
}

// archivePairsInput is one input of batch/archive: HubSpot's PublicAssociationMultiArchive, a
// record and the records to dissociate from it.
type archivePairsInput struct {
	From *objectIDInput  `json:"from"`
	To   []objectIDInput `json:"to"`
}

// readAssociationsInput is one input of batch/read: HubSpot's PublicFetchAssociationsBatchRequest.
type readAssociationsInput struct {
	ID    flexID `json:"id"`
	After string `json:"after"`
}

// associationsOfJSON is one result of batch/read: HubSpot's PublicAssociationMultiWithLabel.
type associationsOfJSON struct {
	From   objectIDJSON     `json:"from"`
	To     []associatedJSON `json:"to"`
	Paging *pagingJSON      `json:"paging,omitempty"`
}

// inputProblems collects what is wrong with the inputs of a batch, one detail each, so that a
// refusal names every bad input at once.
type inputProblems []errorDetail

// add records the problem of the input field in.
func (p *inputProblems) add(in, code, format string, args ...any) {
	*p = append(*p, errorDetail{In: in, Code: code, Message: fmt.Sprintf(format, args...)})
}

// recordID checks the id of a record of type o named at at (as "inputs[3].from.id"): it must be
// given, and be a record id as the API answers them.
func (p *inputProblems) recordID(at string, ref *objectIDInput, o crm.ObjectType) {
	switch {
	case ref == nil || ref.ID == "":
		p.add(at, "MISSING_ID", `%s is missing: give the id of the %s record, as {"id": "123"}`, at, o)
	case !recordID.MatchString(string(ref.ID)):
		p.add(at, "INVALID_ID", "%s %q is not a record id: ids are whole numbers without leading zeros or spaces, as the API returns them", at, string(ref.ID))
	}
}

// err is the 400 of the problems, or nil when there are none. done says what the refusal left
// undone ("nothing was associated").
func (p inputProblems) err(done string) error {
	if len(p) == 0 {
		return nil
	}
	msg := p[0].Message + ": " + done
	if len(p) > 1 {
		msg = fmt.Sprintf("inputs have %d problems, %s: %s (and %d more in errors)", len(p), done, p[0].Message, len(p)-1)
	}
	return &apiError{status: http.StatusBadRequest, category: categoryValidation, message: msg, details: p}
}

// associationBatchTypes reads the two object types of a batch association path.
func (s *Server) associationBatchTypes(r *http.Request, t crm.TenantID) (from, to crm.ObjectType, err error) {
	if from, err = s.objectType(r, t, "fromObjectType"); err != nil {
		return "", "", err
	}
	if to, err = s.objectType(r, t, "toObjectType"); err != nil {
		return "", "", err
	}
	return from, to, nil
}

// pairOf is the pair of the records from.id (of type fo) and target.id (of type to) of the input
// at ("inputs[3]"), whose target is at toAt ("inputs[3].to.id"), after checking both ids and that
// the two are not one record.
func (p *inputProblems) pairOf(at string, fo crm.ObjectType, from *objectIDInput, to crm.ObjectType, target *objectIDInput, toAt string) crm.AssociationPair {
	n := len(*p)
	p.recordID(at+".from.id", from, fo)
	if len(*p) > n {
		p.recordID(toAt, target, to)
		return crm.AssociationPair{}
	}
	return p.pairTo(at, crm.AssociationRef{Type: fo, ID: crm.RecordID(from.ID)}, to, target, toAt)
}

// pairTo is the pair of the record from, already checked, and target.id (of type to), after
// checking its id and that the two are not one record; at and toAt are as for pairOf.
func (p *inputProblems) pairTo(at string, from crm.AssociationRef, to crm.ObjectType, target *objectIDInput, toAt string) crm.AssociationPair {
	n := len(*p)
	p.recordID(toAt, target, to)
	if len(*p) > n {
		return crm.AssociationPair{}
	}
	pair := crm.AssociationPair{From: from, To: crm.AssociationRef{Type: to, ID: crm.RecordID(target.ID)}}
	if pair.From == pair.To {
		p.add(toAt, "SELF_ASSOCIATION", "%s names %s %s, the record of %s.from.id: a record cannot be associated with itself", toAt, to, target.ID, at)
	}
	return pair
}

// pairPlace says where the two records of a pair are named in a batch: "inputs[3].from.id" and
// "inputs[3].to.id" (or "inputs[3].to[1].id").
type pairPlace struct{ from, to string }

// placeOf is the place of the pair of input at ("inputs[3]") whose target is at toAt.
func placeOf(at, toAt string) pairPlace { return pairPlace{from: at + ".from.id", to: toAt} }

// pairFailure is the failure of the pair p named at where, which the store refused with err: a
// record of it is not live, or has the most associations a record may have.
func pairFailure(where pairPlace, p crm.AssociationPair, err error) batchErrorJSON {
	at, ref := where.to, p.To
	var nf *crm.NotFoundError
	var ve *crm.ValidationError
	switch {
	case errors.As(err, &nf):
		if nf.ID == string(p.From.Type)+"/"+string(p.From.ID) {
			at, ref = where.from, p.From
		}
		return batchErrorJSON{Status: "error", Category: categoryNotFound,
			Message: fmt.Sprintf("%s: %s %s does not exist or is in the recycle bin", at, ref.Type, ref.ID),
			Context: map[string][]string{"input": {at}, "ids": {string(ref.ID)}}}
	case errors.As(err, &ve):
		if ve.Field == "fromObjectId" {
			at, ref = where.from, p.From
		}
		return batchErrorJSON{Status: "error", Category: categoryValidation,
			Message: fmt.Sprintf("%s: %s (this input was not associated)", at, ve.Message),
			Context: map[string][]string{"input": {at}, "ids": {string(ref.ID)}, "code": {ve.Code}}}
	}
	return batchErrorJSON{Status: "error", Category: categoryInternal, Message: fmt.Sprintf("%s: %v", where.to, err),
		Context: map[string][]string{"input": {where.to}}}
}

// associatePairs links pairs (named in the request at ats) and returns which it linked, and the
// failures, one per pair the store refused.
func (s *Server) associatePairs(r *http.Request, t crm.TenantID, pairs []crm.AssociationPair, ats []pairPlace) (linked []bool, failed []batchErrorJSON, err error) {
	errs, err := s.store.AssociatePairs(r.Context(), t, pairs)
	if err != nil {
		return nil, nil, err
	}
	linked = make([]bool, len(pairs))
	for i, e := range errs {
		if e == nil {
			linked[i] = true
			continue
		}
		failed = append(failed, pairFailure(ats[i], pairs[i], e))
	}
	return linked, failed, nil
}

// batchAssociateDefault serves POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/associate/default:
// it links each input's two live records with the default association, all in one atomic step,
// and answers 200 with HubSpot's BatchResponsePublicDefaultAssociation: a result per input linked
// and, as HubSpot's model has them, numErrors and errors naming each input whose record does not
// exist, is in the bin or has the most associations a record may have (the others are linked all
// the same). Bad inputs are a 400 naming each, and link nothing.
func (s *Server) batchAssociateDefault(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	started := s.clock.Now()
	from, to, inputs, err := associationBatch[defaultPairInput](s, w, r, p, maxAssociationPairs)
	if err != nil {
		return err
	}
	var bad inputProblems
	pairs, ats := make([]crm.AssociationPair, len(inputs)), make([]pairPlace, len(inputs))
	for i, x := range inputs {
		at := fmt.Sprintf("inputs[%d]", i)
		ats[i] = placeOf(at, at+".to.id")
		pairs[i] = bad.pairOf(at, from, x.From, to, x.To, ats[i].to)
	}
	if err := bad.err("nothing was associated"); err != nil {
		return err
	}
	linked, failed, err := s.associatePairs(r, p.Tenant, pairs, ats)
	if err != nil {
		return fmt.Errorf("batch associate %s with %s: %w", from, to, err)
	}
	var spec *associationType
	if id, ok := defaultAssociationTypeID(from, to); ok {
		spec = &associationType{AssociationCategory: associationCategoryHubSpot, AssociationTypeID: &id}
	}
	results := []defaultAssociationJSON{}
	for i, pair := range pairs {
		if linked[i] {
			results = append(results, defaultAssociationJSON{From: objectIDJSON{ID: string(pair.From.ID)},
				To: objectIDJSON{ID: string(pair.To.ID)}, AssociationSpec: spec})
		}
	}
	writeJSON(w, http.StatusOK, batchJSON[defaultAssociationJSON]{Status: "COMPLETE", Results: results,
		NumErrors: len(failed), Errors: failed, StartedAt: crm.FormatDatetime(started), CompletedAt: crm.FormatDatetime(s.clock.Now())})
	return nil
}

// batchAssociationPath is the path of the batch association endpoint op ("associate/default")
// between the object types of r's path, as r names them.
func batchAssociationPath(r *http.Request, op string) string {
	return fmt.Sprintf("/crm/v4/associations/%s/%s/batch/%s", r.PathValue("fromObjectType"), r.PathValue("toObjectType"), op)
}

// typedPairs checks the inputs of batch/create and batch/labels/archive: the two records' ids and
// the association types, each one of HubSpot's default types from one object type to the other.
// It returns the pairs, where each input is, and whether its types hold the unlabeled one.
func typedPairs(r *http.Request, from, to crm.ObjectType, in []typedPairInput, done string) (pairs []crm.AssociationPair, ats []pairPlace, unlabeled []bool, err error) {
	if len(associationTypeIDsTo(from, to)) == 0 {
		return nil, nil, nil, errInvalid("types", "INVALID_ASSOCIATION_TYPE",
			"there is no association type from %s to %s in crmflow: link their records with POST %s", from, to, batchAssociationPath(r, "associate/default"))
	}
	plain, _ := defaultAssociationTypeID(from, to)
	var bad inputProblems
	pairs, ats, unlabeled = make([]crm.AssociationPair, len(in)), make([]pairPlace, len(in)), make([]bool, len(in))
	for i, x := range in {
		at := fmt.Sprintf("inputs[%d]", i)
		ats[i] = placeOf(at, at+".to.id")
		pairs[i] = bad.pairOf(at, from, x.From, to, x.To, ats[i].to)
		at += ".types"
		if d := checkAssociationSpecs(from, to, x.Types, at, at, "POST "+batchAssociationPath(r, "associate/default")); d != nil {
			bad = append(bad, *d)
		}
		unlabeled[i] = slices.ContainsFunc(x.Types, func(t associationType) bool {
			return t.AssociationTypeID != nil && *t.AssociationTypeID == plain
		})
	}
	if err := bad.err(done); err != nil {
		return nil, nil, nil, err
	}
	return pairs, ats, unlabeled, nil
}

// batchCreateAssociations serves POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/create:
// as batch/associate/default, for inputs that name their association types, each one of HubSpot's
// default types from the one object type to the other (category HUBSPOT_DEFINED, unlabeled or
// primary: crmflow keeps no labels, and either makes the same plain association). 201 with
// HubSpot's BatchResponseLabelsBetweenObjectPair when every input was linked, else 207 whose
// errors name each input that was not. A label, another type id or no type is a 400 naming each
// such input, and links nothing.
func (s *Server) batchCreateAssociations(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	started := s.clock.Now()
	from, to, inputs, err := associationBatch[typedPairInput](s, w, r, p, maxAssociationPairs)
	if err != nil {
		return err
	}
	pairs, ats, _, err := typedPairs(r, from, to, inputs, "nothing was associated")
	if err != nil {
		return err
	}
	linked, failed, err := s.associatePairs(r, p.Tenant, pairs, ats)
	if err != nil {
		return fmt.Errorf("batch associate %s with %s: %w", from, to, err)
	}
	results := []labelsBetweenJSON{}
	for i, pair := range pairs {
		if linked[i] {
			results = append(results, labelsBetweenJSON{FromObjectTypeID: hubSpotTypeID(from), FromObjectID: string(pair.From.ID),
				ToObjectTypeID: hubSpotTypeID(to), ToObjectID: string(pair.To.ID), Labels: []string{}})
		}
	}
	status := http.StatusCreated
	if len(failed) > 0 {
		status = http.StatusMultiStatus
	}
	writeJSON(w, status, batchJSON[labelsBetweenJSON]{Status: "COMPLETE", Results: results,
		NumErrors: len(failed), Errors: failed, StartedAt: crm.FormatDatetime(started), CompletedAt: crm.FormatDatetime(s.clock.Now())})
	return nil
}

// dissociatePairs removes the links of pairs (the inputs at ats) in one atomic step, all or none:
// when a pair names a record that is not live, nothing is removed and the answer is a 404 naming
// each such input, as the single DELETE answers (a record in the bin keeps its links for its
// restore).
func (s *Server) dissociatePairs(r *http.Request, t crm.TenantID, pairs []crm.AssociationPair, ats []pairPlace) error {
	errs, err := s.store.DissociatePairs(r.Context(), t, pairs)
	if err != nil {
		return fmt.Errorf("batch dissociate: %w", err)
	}
	var details []errorDetail
	for i, e := range errs {
		if e == nil {
			continue
		}
		f := pairFailure(ats[i], pairs[i], e)
		details = append(details, errorDetail{In: f.Context["input"][0], Code: "OBJECT_NOT_FOUND", Message: f.Message})
	}
	if len(details) == 0 {
		return nil
	}
	msg := details[0].Message
	if len(details) > 1 {
		msg = fmt.Sprintf("%d inputs name records that do not exist or are in the recycle bin: %s (and %d more in errors)", len(details), msg, len(details)-1)
	}
	return &apiError{status: http.StatusNotFound, category: categoryNotFound, message: msg + "; nothing was dissociated", details: details}
}

// batchArchiveAssociations serves POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/archive:
// it removes the associations between each input's record and the records of its "to", all in
// one atomic step, 204. Pairs that are not associated are no error. A pair naming a record that
// does not exist or is in the bin is a 404 naming each such input, and nothing is removed. At most
// 2,000 pairs in all.
func (s *Server) batchArchiveAssociations(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	from, to, inputs, err := associationBatch[archivePairsInput](s, w, r, p, maxAssociationPairs)
	if err != nil {
		return err
	}
	n := 0
	for _, x := range inputs {
		n += len(x.To)
	}
	if n > maxAssociationPairs {
		return errInvalid("inputs", "TOO_MANY_INPUTS",
			"inputs name %d records in their \"to\", over the limit of %d pairs per batch request: split them into batches of at most %d",
			n, maxAssociationPairs, maxAssociationPairs)
	}
	var bad inputProblems
	var pairs []crm.AssociationPair
	var ats []pairPlace
	for i, x := range inputs {
		at := fmt.Sprintf("inputs[%d]", i)
		if len(x.To) == 0 {
			bad.recordID(at+".from.id", x.From, from)
			bad.add(at+".to", "MISSING_ID", `%s.to is empty: name the %s records to dissociate, as [{"id": "123"}]`, at, to)
			continue
		}
		n := len(bad)
		bad.recordID(at+".from.id", x.From, from)
		fromOK := len(bad) == n
		for j := range x.To {
			toAt := fmt.Sprintf("%s.to[%d].id", at, j)
			if !fromOK {
				bad.recordID(toAt, &x.To[j], to)
				continue
			}
			pairs = append(pairs, bad.pairTo(at, crm.AssociationRef{Type: from, ID: crm.RecordID(x.From.ID)}, to, &x.To[j], toAt))
			ats = append(ats, placeOf(at, toAt))
		}
	}
	if err := bad.err("nothing was dissociated"); err != nil {
		return err
	}
	if err := s.dissociatePairs(r, p.Tenant, pairs, ats); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// batchArchiveAssociationLabels serves POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/labels/archive:
// HubSpot's removal of association types between records. crmflow keeps no labels: the types
// must be HubSpot's default ones, as in batch/create. Removing the unlabeled type removes the
// association, as HubSpot does (with every label); removing only the primary type removes nothing,
// since crmflow keeps no primary flag and HubSpot then keeps the unlabeled association too. 204;
// the associations are removed as batch/archive removes them, all or none.
func (s *Server) batchArchiveAssociationLabels(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	from, to, inputs, err := associationBatch[typedPairInput](s, w, r, p, maxAssociationPairs)
	if err != nil {
		return err
	}
	pairs, ats, unlabeled, err := typedPairs(r, from, to, inputs, "nothing was dissociated")
	if err != nil {
		return err
	}
	var remove []crm.AssociationPair
	var where []pairPlace
	for i, pair := range pairs {
		if unlabeled[i] {
			remove, where = append(remove, pair), append(where, ats[i])
		}
	}
	if err := s.dissociatePairs(r, p.Tenant, remove, where); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// batchReadAssociations serves POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read:
// for each input's record, its associated records of toObjectType by ascending id, each with the
// default association type of the pair of types (HubSpot's PublicAssociationMultiWithLabel), at
// most 500 an input: "paging.next.after", given back as the input's "after", goes on. All are read
// in one atomic step of the store. 200, or 207 whose errors name each input whose record does not
// exist or is in the bin. At most 1,000 inputs (HubSpot's limit); an input without an id, or with
// an id or after that is not a record id, is a 400 naming each.
func (s *Server) batchReadAssociations(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	started := s.clock.Now()
	from, to, inputs, err := associationBatch[readAssociationsInput](s, w, r, p, maxAssociationReadInputs)
	if err != nil {
		return err
	}
	var bad inputProblems
	var ids []crm.RecordID
	for i, x := range inputs {
		at := fmt.Sprintf("inputs[%d]", i)
		bad.recordID(at+".id", &objectIDInput{ID: x.ID}, from)
		if x.After != "" && !recordID.MatchString(x.After) {
			bad.add(at+".after", "INVALID_AFTER", "%s.after %q is not a record id: give the paging.next.after of the result before", at, x.After)
		}
		if id := crm.RecordID(x.ID); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if err := bad.err("nothing was read"); err != nil {
		return err
	}
	linked, err := s.store.ReadAssociations(r.Context(), p.Tenant, from, ids, to)
	if err != nil {
		return fmt.Errorf("batch read associations of %s: %w", from, err)
	}
	results := []associationsOfJSON{}
	var failed []batchErrorJSON
	for i, x := range inputs {
		all, ok := linked[crm.RecordID(x.ID)]
		if !ok {
			at := fmt.Sprintf("inputs[%d].id", i)
			failed = append(failed, batchErrorJSON{Status: "error", Category: categoryNotFound,
				Message: fmt.Sprintf("%s: %s %s does not exist or is in the recycle bin", at, from, x.ID),
				Context: map[string][]string{"input": {at}, "ids": {string(x.ID)}}})
			continue
		}
		page, next := pageOfIDs(all, x.After, maxAssociationsPage)
		res := associationsOfJSON{From: objectIDJSON{ID: string(x.ID)}, To: associatedOf(from, to, page)}
		if next != "" {
			link := url.URL{Path: fmt.Sprintf("/crm/v4/objects/%s/%s/associations/%s", r.PathValue("fromObjectType"), x.ID, r.PathValue("toObjectType")),
				RawQuery: url.Values{"after": {next}, "limit": {fmt.Sprint(maxAssociationsPage)}}.Encode()}
			res.Paging = &pagingJSON{Next: nextJSON{After: next, Link: link.String()}}
		}
		results = append(results, res)
	}
	status := http.StatusOK
	if len(failed) > 0 {
		status = http.StatusMultiStatus
	}
	writeJSON(w, status, batchJSON[associationsOfJSON]{Status: "COMPLETE", Results: results,
		NumErrors: len(failed), Errors: failed, StartedAt: crm.FormatDatetime(started), CompletedAt: crm.FormatDatetime(s.clock.Now())})
	return nil
}

// associationBatch reads what every batch association endpoint starts with: the two object types
// of its path, and its body's inputs, at most `most` of them.
func associationBatch[T any](s *Server, w http.ResponseWriter, r *http.Request, p crm.Principal, most int) (from, to crm.ObjectType, inputs []T, err error) {
	if from, to, err = s.associationBatchTypes(r, p.Tenant); err != nil {
		return "", "", nil, err
	}
	var in struct {
		Inputs []T `json:"inputs"`
	}
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return "", "", nil, err
	}
	if err := checkBatchLimit(len(in.Inputs), most); err != nil {
		return "", "", nil, err
	}
	return from, to, in.Inputs, nil
}
