package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// This file holds what HubSpot's reads take beyond ids and property names: idProperty (name
// records by a unique property) and propertiesWithHistory.

// Values of idProperty: hs_object_id names records by id (as leaving it out does); email names
// contacts by their primary or additional email. Besides these, every unique property of a type
// (created with hasUniqueValue) names its records.
const (
	idPropertyID    = "hs_object_id"
	idPropertyEmail = "email"
)

// valueJSON is one value of a property's history. crmflow keeps no history of property values:
// the history it shows is the current value alone, with the time of the record's last update as
// its timestamp (the value was set then or before).
type valueJSON struct {
	Value     string `json:"value"`
	Timestamp string `json:"timestamp"`
}

// readSpec is what a read asks of each record: the properties (none named means all) and the
// properties with history.
type readSpec struct {
	properties []string
	history    []string
}

// storeProperties are the properties to read from the store: nil for all, or else the properties
// and those with history.
func (rs readSpec) storeProperties() []string {
	if len(rs.properties) == 0 {
		return nil
	}
	out := slices.Clone(rs.properties)
	for _, h := range rs.history {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// withRecordProperties returns rec with the properties every record has, among names, added to its
// properties: hs_object_id (its id), createdate (when it was created), lastmodifieddate and
// hs_lastmodifieddate (when it last changed). The store keeps these as the record's id and times,
// not as properties, so a read that names them gets them here, as HubSpot shows them; a read that
// names none is left as it is. rec's properties are copied, not changed.
func withRecordProperties(rec crm.Record, names []string) crm.Record {
	var props map[string]string
	for _, n := range names {
		var v string
		switch n {
		case crm.PropObjectID:
			v = string(rec.ID)
		case crm.PropCreateDate:
			v = crm.FormatDatetime(rec.CreatedAt)
		case crm.PropLastModifiedDate, crm.PropHSLastModified:
			v = crm.FormatDatetime(rec.UpdatedAt)
		default:
			continue
		}
		if props == nil {
			props = make(map[string]string, len(rec.Properties)+len(names))
			for k, pv := range rec.Properties {
				props[k] = pv
			}
		}
		props[n] = v
	}
	if props != nil {
		rec.Properties = props
	}
	return rec
}

// render shows rec as asked: its properties limited to those named (when some are), and
// propertiesWithHistory for the properties with history that rec has.
func (rs readSpec) render(rec crm.Record) recordJSON {
	rec = withRecordProperties(rec, rs.properties)
	props := rec.Properties
	if len(rs.history) > 0 && len(rs.properties) > 0 {
		props = make(map[string]string, len(rs.properties))
		for _, n := range rs.properties {
			if v, ok := rec.Properties[n]; ok {
				props[n] = v
			}
		}
	}
	var history map[string][]valueJSON
	for _, n := range rs.history {
		if history == nil {
			history = map[string][]valueJSON{}
		}
		if v, ok := rec.Properties[n]; ok {
			history[n] = []valueJSON{{Value: v, Timestamp: crm.FormatDatetime(rec.UpdatedAt)}}
		}
	}
	rec.Properties = props
	out := toRecordJSON(rec)
	out.PropertiesWithHistory = history
	return out
}

func (rs readSpec) renderAll(recs []crm.Record) []recordJSON {
	out := make([]recordJSON, len(recs))
	for i, rec := range recs {
		out[i] = rs.render(rec)
	}
	return out
}

// queryReadSpec reads ?properties= and ?propertiesWithHistory= (each comma-separated, repeatable).
func queryReadSpec(r *http.Request) readSpec {
	return readSpec{properties: queryProperties(r), history: splitNames(r.URL.Query()["propertiesWithHistory"])}
}

// idProperty resolves the idProperty v of a read or write of type o: "" for "" or hs_object_id
// (records are named by id), "email" for email on contacts, or else the name of a unique property
// of o (hasUniqueValue). Any other value is a 400 saying why it cannot be used and what can.
func (s *Server) idProperty(ctx context.Context, t crm.TenantID, o crm.ObjectType, v string) (string, error) {
	switch {
	case v == "" || v == idPropertyID:
		return "", nil
	case v == idPropertyEmail && o == crm.Contacts:
		return idPropertyEmail, nil
	}
	schema, err := s.store.Schema(ctx, t, o)
	if err != nil {
		return "", fmt.Errorf("read schema of %s: %w", o, err)
	}
	can := []string{idPropertyID}
	if o == crm.Contacts {
		can = append(can, idPropertyEmail)
	}
	can = append(can, schema.UniqueProperties()...)
	prop, ok := schema.Properties[v]
	switch {
	case !ok:
		return "", errInvalid("idProperty", "INVALID_ID_PROPERTY",
			"idProperty %q is not a property of %s: use one of %s", v, o, strings.Join(can, ", "))
	case !prop.Unique:
		return "", errInvalid("idProperty", "INVALID_ID_PROPERTY",
			"idProperty %q cannot name %s records: it is not a unique property (hasUniqueValue); use one of %s, "+
				"or create a property with hasUniqueValue true (only new properties can be unique)", v, o, strings.Join(can, ", "))
	}
	return v, nil
}

// pathObjectID returns the id of the record of type o that the {id} of r names: a record id, or
// with ?idProperty= (see idProperty) the value of that property, as recordIDBy finds it (with
// archived, in the bin).
func (s *Server) pathObjectID(r *http.Request, t crm.TenantID, o crm.ObjectType, archived bool) (crm.RecordID, error) {
	by, err := s.idProperty(r.Context(), t, o, r.URL.Query().Get("idProperty"))
	if err != nil {
		return "", err
	}
	if by != "" {
		return s.recordIDBy(r.Context(), t, o, by, r.PathValue("id"), archived)
	}
	return pathRecordID(r, "id")
}

// recordIDBy returns the id of the live record of type o whose idProperty prop (email or a unique
// property, see idProperty) is value; with archived, email finds a contact in the bin, and a unique
// property is a 400 (the bin keeps no unique index). None is a 404 naming the value.
func (s *Server) recordIDBy(ctx context.Context, t crm.TenantID, o crm.ObjectType, prop, value string, archived bool) (crm.RecordID, error) {
	if prop == idPropertyEmail && o == crm.Contacts {
		return s.contactIDByEmail(ctx, t, value, archived)
	}
	if archived {
		return "", errInvalid("idProperty", "INVALID_ID_PROPERTY",
			"idProperty %q names live %s records only: read archived records by id (leave idProperty out)", prop, o)
	}
	found, err := s.store.RecordsByUnique(ctx, t, o, prop, []string{value})
	if err != nil {
		return "", fmt.Errorf("find %s by %s: %w", o, prop, err)
	}
	id, ok := found[value]
	if !ok {
		return "", errNotFound(fmt.Sprintf("%s record with %s", o, prop), value)
	}
	return id, nil
}

// recordIDsBy looks values of the idProperty prop (email or a unique property) up in one round
// trip: the ids of the live records of type o holding them, keyed by the value as given.
func (s *Server) recordIDsBy(ctx context.Context, t crm.TenantID, o crm.ObjectType, prop string, values []string) (map[string]crm.RecordID, error) {
	if prop == idPropertyEmail && o == crm.Contacts {
		found, err := s.store.ContactsByEmails(ctx, t, values)
		if err != nil {
			return nil, fmt.Errorf("find contacts by email: %w", err)
		}
		return found, nil
	}
	found, err := s.store.RecordsByUnique(ctx, t, o, prop, values)
	if err != nil {
		return nil, fmt.Errorf("find %s by %s: %w", o, prop, err)
	}
	return found, nil
}

// contactIDByEmail returns the id of the contact with email: the live one, or with archived the
// one in the bin (the newest, if several are). None is a 404 naming the email.
func (s *Server) contactIDByEmail(ctx context.Context, t crm.TenantID, email string, archived bool) (crm.RecordID, error) {
	if !archived {
		id, err := s.store.ContactByEmail(ctx, t, email)
		if err != nil {
			return "", fmt.Errorf("find contact %q: %w", email, err)
		}
		return id, nil
	}
	ids, err := s.store.ContactsByAnyEmail(ctx, t, email)
	if err != nil {
		return "", fmt.Errorf("find contacts of %q: %w", email, err)
	}
	binned, err := s.store.Records(ctx, t, crm.Contacts, ids, &crm.ReadOpts{Archived: true, Properties: []string{"-"}})
	if err != nil {
		return "", fmt.Errorf("read binned contacts of %q: %w", email, err)
	}
	if len(binned) == 0 {
		return "", errNotFound("archived contact with email", email)
	}
	return binned[len(binned)-1].ID, nil
}

// associationsJSON are the associations of a record read with ?associations=, by type.
type associationsJSON map[string]pageJSON[associationRefJSON]

// associationRefJSON is one associated record of a read.
type associationRefJSON struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// queryAssociationTypes reads ?associations= (comma-separated names or HubSpot ids of object
// types, repeatable); nil when none is named. A type the tenant does not have is a 400. Each
// distinct custom type is looked up once, however often it is named.
func (s *Server) queryAssociationTypes(r *http.Request, t crm.TenantID) ([]crm.ObjectType, error) {
	var out []crm.ObjectType
	for _, n := range splitNames(r.URL.Query()["associations"]) {
		to := crm.ObjectType(n)
		if x, ok := hubSpotTypeIDs[n]; ok {
			to = x
		}
		if slices.Contains(out, to) {
			continue
		}
		if !to.IsStandard() {
			if _, err := s.store.Schema(r.Context(), t, to); err != nil {
				if errors.Is(err, crm.ErrNotFound) {
					return nil, errInvalid("associations", "INVALID_OBJECT_TYPE", "associations names %q, which is not an object type", n)
				}
				return nil, fmt.Errorf("read schema of %s: %w", to, err)
			}
		}
		out = append(out, to)
	}
	return out, nil
}

// maxInlineAssociations is the most linked records of one type a record read with
// ?associations= shows, HubSpot's: past it, paging.next goes on at the association endpoint.
const maxInlineAssociations = 100

// addAssociations sets the Associations of recs, live records of type o, to their links with
// records of types, read with one script call of the store: at most maxInlineAssociations of a
// type a record, by ascending id, with HubSpot's paging.next (after, and a link to the record's
// association read) when it has more. When the records have more associations in all than one
// read may look at (the store's budget), it is a 400 TOO_MANY_ASSOCIATIONS_READ saying to read
// fewer records at a time or the associations a page at a time.
func (s *Server) addAssociations(ctx context.Context, t crm.TenantID, o crm.ObjectType, recs []recordJSON, types []crm.ObjectType) error {
	if len(types) == 0 || len(recs) == 0 {
		return nil
	}
	ids := make([]crm.RecordID, len(recs))
	for i, rec := range recs {
		ids[i] = crm.RecordID(rec.ID)
	}
	linked, err := s.store.AssociationsOf(ctx, t, o, ids, types)
	var ve *crm.ValidationError
	if errors.As(err, &ve) && ve.Code == crm.CodeTooManyAssociationsRead {
		return errInvalid("limit", ve.Code, "%s (here: a smaller limit, or GET /crm/v4/objects/%s/{id}/associations/{toType}?limit=%d with its paging.next.after)",
			ve.Message, o, maxAssociationsPage)
	}
	if err != nil {
		return fmt.Errorf("read associations of %s: %w", o, err)
	}
	for i, rec := range recs {
		for to, others := range linked[crm.RecordID(rec.ID)] {
			if recs[i].Associations == nil {
				recs[i].Associations = associationsJSON{}
			}
			page, next := pageOfIDs(others, "", maxInlineAssociations)
			refs := make([]associationRefJSON, len(page))
			for k, x := range page {
				refs[k] = associationRefJSON{ID: string(x), Type: singular(o) + "_to_" + singular(to)}
			}
			res := pageJSON[associationRefJSON]{Results: refs}
			if next != "" {
				link := url.URL{Path: fmt.Sprintf("/crm/v4/objects/%s/%s/associations/%s", o, rec.ID, to),
					RawQuery: url.Values{"after": {next}, "limit": {fmt.Sprint(maxAssociationsPage)}}.Encode()}
				res.Paging = &pagingJSON{Next: nextJSON{After: next, Link: link.String()}}
			}
			recs[i].Associations[string(to)] = res
		}
	}
	return nil
}

// errArchivedAssociations refuses ?associations= on a read of the bin.
func errArchivedAssociations() error {
	return errInvalid("associations", "UNSUPPORTED_PARAMETER",
		"associations cannot be read with archived=true: the associations of a record in the bin are readable once it is restored")
}

// singular is the singular of a type's name as HubSpot's association type names use it
// ("contact_to_company"); a custom type keeps its name.
func singular(o crm.ObjectType) string {
	switch o {
	case crm.Companies:
		return "company"
	case crm.Contacts, crm.Deals, crm.Tickets, crm.Calls:
		return string(o[:len(o)-1])
	}
	return string(o)
}
