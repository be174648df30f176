package crm_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// TestPropertyChangeOf: the fields a change changes, as the API names them and in a fixed order,
// and how many options it adds and removes.
func TestPropertyChangeOf(t *testing.T) {
	t.Parallel()
	size := crm.Property{Name: "size", Label: "Size", Type: crm.TypeEnumeration, Options: []string{"s", "m", "l"}}
	with := func(f func(p *crm.Property)) crm.Property {
		p := size
		p.Options = append([]string(nil), size.Options...)
		f(&p)
		return p
	}
	for _, tc := range []struct {
		name           string
		next           crm.Property
		fields         []string
		added, removed int
	}{
		{"Nothing", size, nil, 0, 0},
		{"Label", with(func(p *crm.Property) { p.Label = "Shirt size" }), []string{"label"}, 0, 0},
		{"EveryOtherField", with(func(p *crm.Property) {
			p.FormField, p.Hidden, p.DisplayOrder, p.Description = true, true, 3, "For the swag"
		}), []string{"description", "displayOrder", "hidden", "formField"}, 0, 0},
		{"OptionsAddedAndRemoved", with(func(p *crm.Property) { p.Options = []string{"xl", "s", "xxl"} }), []string{"options"}, 2, 2},
		{"OptionsReordered", with(func(p *crm.Property) { p.Options = []string{"l", "m", "s"} }), []string{"options"}, 0, 0},
		{"OptionLabel", with(func(p *crm.Property) { p.OptionLabels = map[string]string{"s": "Small"} }), []string{"options"}, 0, 0},
		{"ToString", with(func(p *crm.Property) { p.Type, p.Options = crm.TypeString, nil }), []string{"type", "options"}, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, crm.PropertyChange{Fields: tc.fields, OptionsAdded: tc.added, OptionsRemoved: tc.removed},
				crm.PropertyChangeOf(size, tc.next))
		})
	}
}
