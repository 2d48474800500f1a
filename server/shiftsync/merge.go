package shiftsync

// FieldOutcome is what merging one field edit does.
type FieldOutcome struct {
	Field string
	// Wins is true when the edit's version is greater than the current one,
	// so its value becomes the field's value.
	Wins bool
	// Conflict is true when the author did not see the current version (its
	// base differs): two people edited the field concurrently. Both values are
	// kept whichever wins.
	Conflict bool
	// Current is the version that was winning before the edit (zero if none).
	Current Version
}

// Merge decides, for each field m edits, whether the edit wins and whether it
// conflicts, given the versions currently winning on the server (fields
// missing from current have no value). It is the merge rule of the whole
// system, applied the same way on every replica: per field, the greatest
// (HLC, device id) wins, whatever the order mutations arrive in.
//
// It returns an error with [ReasonVersionReused] when m would write a version
// equal to the current one of some field: two different values with one
// version would make replicas diverge.
func Merge(m *Mutation, current map[string]Version) ([]FieldOutcome, *MutationError) {
	v := m.Version()
	out := make([]FieldOutcome, 0, len(m.Fields))
	for _, e := range m.Fields {
		cur, has := current[e.Field]
		c := v.Compare(cur)
		if has && c == 0 {
			return nil, reject(ReasonVersionReused, "field %q already has a value written at this device's hlc %+v", e.Field, m.HLC)
		}
		out = append(out, FieldOutcome{
			Field:    e.Field,
			Wins:     !has || c > 0,
			Conflict: has && e.Base != cur,
			Current:  cur,
		})
	}
	return out, nil
}
