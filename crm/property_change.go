package crm

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ValidatePropertyChange checks that property old may become next (PATCH
// /crm/v3/properties/{objectType}/{propertyName}): a property of the product (Standard) never
// changes; the name and the uniqueness (Unique) are kept; a unique property keeps its type, since
// its unique index holds values of that type; and next must be a valid definition (Validate). It
// returns ValidationErrors naming each problem, or nil. What the change would do to records,
// workflows and protection rules is checked elsewhere: the store refuses a change that stored
// values would no longer fit (SchemaStore.UpdateProperty), the API one that active workflows or
// protection rules would no longer validate under.
func ValidatePropertyChange(o ObjectType, old, next Property) error {
	var errs ValidationErrors
	if old.Standard {
		return ValidationErrors{{Field: "name", Code: "READ_ONLY_DEFINITION",
			Message: fmt.Sprintf("property %q of %s comes with crmflow and cannot be changed: create a property of your own (POST /crm/v3/properties/%s) for what you need", old.Name, o, o)}}
	}
	if next.Name != old.Name {
		errs = append(errs, &ValidationError{Field: "name", Code: "READ_ONLY_NAME",
			Message: fmt.Sprintf("property %q cannot be renamed to %q: records, workflows and integrations name it; create a property of the new name instead", old.Name, next.Name)})
	}
	if next.Unique != old.Unique {
		errs = append(errs, &ValidationError{Field: "hasUniqueValue", Code: "READ_ONLY_UNIQUE",
			Message: fmt.Sprintf("property %q: hasUniqueValue is set only when a property is created (it is %t): leave it out, or create a new property", old.Name, old.Unique)})
	} else if old.Unique && next.Type != old.Type {
		errs = append(errs, &ValidationError{Field: "type", Code: "READ_ONLY_UNIQUE_TYPE",
			Message: fmt.Sprintf("property %q has unique values (hasUniqueValue), so its type stays %s: its unique index holds values of that type; create a new property of type %s instead", old.Name, old.Type, next.Type)})
	}
	if err := next.Validate(); err != nil {
		var ve ValidationErrors
		if asVE(err, &ve) {
			errs = append(errs, ve...)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// RemovedOptions returns the options of old that next no longer has: every option of an
// enumeration that becomes another type, else those left out of its new options, in old's order.
func RemovedOptions(old, next Property) []string {
	if old.Type != TypeEnumeration {
		return nil
	}
	kept := make(map[string]bool, len(next.Options))
	if next.Type == TypeEnumeration {
		for _, o := range next.Options {
			kept[o] = true
		}
	}
	var out []string
	for _, o := range old.Options {
		if !kept[o] {
			out = append(out, o)
		}
	}
	return out
}

// PropertyChange is what a change of a property's definition changed, as the audit trail records
// it (AuditPropertyUpdate): the names of the fields and how many options came and went, never a
// value of a record nor an option's value, so that an entry stays small.
type PropertyChange struct {
	// Fields are the fields of the definition that changed, as the API names them, in this order:
	// label, description, type, options (their values, order or labels), displayOrder, hidden,
	// formField. Empty when nothing changed.
	Fields []string
	// OptionsAdded counts the options next has and old had not; OptionsRemoved those old had and
	// next has not (every option of an enumeration that becomes another type).
	OptionsAdded, OptionsRemoved int
}

// PropertyChangeOf returns what changing property old into next changes.
func PropertyChangeOf(old, next Property) PropertyChange {
	var c PropertyChange
	for _, f := range []struct {
		name    string
		changed bool
	}{
		{"label", old.Label != next.Label},
		{"description", old.Description != next.Description},
		{"type", old.Type != next.Type},
		{"options", !slices.Equal(old.Options, next.Options) || !maps.Equal(old.OptionLabels, next.OptionLabels)},
		{"displayOrder", old.DisplayOrder != next.DisplayOrder},
		{"hidden", old.Hidden != next.Hidden},
		{"formField", old.FormField != next.FormField},
	} {
		if f.changed {
			c.Fields = append(c.Fields, f.name)
		}
	}
	had := make(map[string]bool, len(old.Options))
	for _, o := range old.Options {
		had[o] = true
	}
	for _, o := range next.Options {
		if had[o] {
			delete(had, o)
		} else {
			c.OptionsAdded++
		}
	}
	c.OptionsRemoved = len(had)
	return c
}

// ValidatePropertyArchive checks that property p of type o may be archived
// (SchemaStore.ArchiveProperty): a property of the product (Standard) stays, since crmflow itself,
// HubSpot's clients and integrations rely on it (email names contacts, pipelines and stages hold
// deals and tickets); so does a unique property (Unique), whose unique index the write scripts
// keep only while it is live, and which names records (idProperty, upserts). It returns a
// *ConflictError (code PROPERTY_NOT_ARCHIVABLE) saying why, or nil. What uses the property
// (active workflows, protection rules, bulk deletes selecting by filter) is checked elsewhere,
// as for a change.
func ValidatePropertyArchive(o ObjectType, p Property) error {
	switch {
	case p.Standard:
		return &ConflictError{Code: "PROPERTY_NOT_ARCHIVABLE",
			Message: fmt.Sprintf("property %q of %s comes with crmflow and cannot be archived: crmflow, HubSpot's clients and integrations rely on it (nothing was changed)", p.Name, o)}
	case p.Unique:
		return &ConflictError{Code: "PROPERTY_NOT_ARCHIVABLE",
			Message: fmt.Sprintf("property %q of %s has unique values (hasUniqueValue) and cannot be archived: it names records (idProperty, upserts), and its unique index must follow every write of "+
				"its records; leave it unused instead (nothing was changed)", p.Name, o)}
	}
	return nil
}

// PropertyUse is one thing that uses a property: a workflow or a protection rule, with what the
// change would do to it.
type PropertyUse struct {
	// Name names the workflow or the rule.
	Name string
	// Detail says how it uses the property, or what of it would no longer validate.
	Detail string
}

// PropertyInUseError refuses a change or an archive of a property that something still uses:
// active workflows, protection rules or bulk deletes still selecting by filter that would no
// longer validate (or whose typed expressions read it), or records that hold values the change
// would leave invalid. Nothing was changed.
type PropertyInUseError struct {
	ObjectType ObjectType
	Property   string
	// Change says what was refused: "remove option \"m\" of", "change the type of", "archive".
	Change string
	// Workflows are the active workflows that use the property, by name.
	Workflows []PropertyUse
	// Rules are the protection rules that use it, by name.
	Rules []PropertyUse
	// Jobs are the bulk delete jobs still selecting whose filter uses it, by job id: the worker
	// evaluates their filter record by record, against the count the user confirmed.
	Jobs []PropertyUse
	// Records is how many records hold values that block the change, as RecordsWhat says
	// ("live contacts have size = \"m\""); 0 when none do.
	Records     int64
	RecordsWhat string
	// RecordsFix says what to do about those records.
	RecordsFix string
}

func (e *PropertyInUseError) Error() string {
	var uses []string
	for _, w := range e.Workflows {
		uses = append(uses, fmt.Sprintf("active workflow %q (%s)", w.Name, w.Detail))
	}
	for _, r := range e.Rules {
		uses = append(uses, fmt.Sprintf("protection rule %q (%s)", r.Name, r.Detail))
	}
	for _, j := range e.Jobs {
		uses = append(uses, fmt.Sprintf("bulk delete job %s, still selecting by filter (%s)", j.Name, j.Detail))
	}
	if e.Records > 0 {
		uses = append(uses, fmt.Sprintf("%d %s", e.Records, e.RecordsWhat))
	}
	var fixes []string
	if len(e.Workflows) > 0 {
		fixes = append(fixes, "pause those workflows, or activate revisions that do not need it")
	}
	if len(e.Rules) > 0 {
		fixes = append(fixes, "change or delete those rules (PUT or DELETE /crm/v3/protection/{name})")
	}
	if len(e.Jobs) > 0 {
		fixes = append(fixes, "wait until those jobs are past selecting (GET /crm/v3/jobs/{jobId})")
	}
	if e.Records > 0 && e.RecordsFix != "" {
		fixes = append(fixes, e.RecordsFix)
	}
	return fmt.Sprintf("cannot %s %s property %q: it is in use by %s: %s; then try again (nothing was changed)",
		e.Change, e.ObjectType, e.Property, strings.Join(uses, "; "), strings.Join(fixes, "; "))
}

// MaxTypeChangeRecords is the most records (live and in the recycle bin together) an object type
// may have for a property of it to change its type to another than string: the store reads the
// property of each to make sure none holds a value, since a value need not fit the new type. A
// change to string needs no such check (every value is a valid string), and a type with more
// records is refused with a clear error.
const MaxTypeChangeRecords = 10000
