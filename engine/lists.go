package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/crmflow/crmflow/crm"
)

// ListStore is what LoadLists reads of the store.
type ListStore interface {
	// List returns a static list, or an error matching crm.ErrNotFound.
	List(ctx context.Context, t crm.TenantID, id crm.ListID) (crm.ListDef, error)
	// AllListMembers returns every member id of a list, or an error matching crm.ErrNotFound.
	AllListMembers(ctx context.Context, t crm.TenantID, id crm.ListID) ([]crm.RecordID, error)
}

// UnusableList is a suppression list that suppresses nobody: it does not exist (Holds is empty),
// or it holds records of another type than the workflow's.
type UnusableList struct {
	ID    crm.ListID
	Holds crm.ObjectType
}

// Reason says why the list suppresses nobody, for people: "list 7 does not exist" or "list 7 holds
// companies, not contacts".
func (u UnusableList) Reason(o crm.ObjectType) string {
	if u.Holds == "" {
		return fmt.Sprintf("list %s does not exist", u.ID)
	}
	return fmt.Sprintf("list %s holds %s, not %s", u.ID, u.Holds, o)
}

// LoadLists reads the members of the suppression lists ids of a workflow of object type o into
// sets for Decide, adding to into (nil for a new ListSets) and skipping the lists into holds
// already. A list that does not exist (or is deleted meanwhile) or holds another type suppresses
// nobody: it gets an empty set, and is returned in unusable. One store call per list, and one more
// per list read; the worker and the preview share it, so that both suppress the same records.
func LoadLists(ctx context.Context, st ListStore, t crm.TenantID, o crm.ObjectType, ids []crm.ListID, into ListSets) (sets ListSets, unusable []UnusableList, err error) {
	if into == nil {
		into = ListSets{}
	}
	for _, id := range ids {
		if _, ok := into[id]; ok {
			continue
		}
		l, err := st.List(ctx, t, id)
		switch {
		case errors.Is(err, crm.ErrNotFound):
			into[id] = map[crm.RecordID]bool{}
			unusable = append(unusable, UnusableList{ID: id})
			continue
		case err != nil:
			return into, unusable, fmt.Errorf("read list %s: %w", id, err)
		case l.ObjectType != o:
			into[id] = map[crm.RecordID]bool{}
			unusable = append(unusable, UnusableList{ID: id, Holds: l.ObjectType})
			continue
		}
		members, err := st.AllListMembers(ctx, t, id)
		if errors.Is(err, crm.ErrNotFound) { // deleted meanwhile
			into[id] = map[crm.RecordID]bool{}
			unusable = append(unusable, UnusableList{ID: id})
			continue
		}
		if err != nil {
			return into, unusable, fmt.Errorf("read members of list %s: %w", id, err)
		}
		set := make(map[crm.RecordID]bool, len(members))
		for _, m := range members {
			set[m] = true
		}
		into[id] = set
	}
	return into, unusable, nil
}
