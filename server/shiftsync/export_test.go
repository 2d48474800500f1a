package shiftsync

// PermissionsDeclared reports whether the permissions table has a row,
// possibly empty, for the role and record type.
func PermissionsDeclared(role Role, recordType string) bool {
	_, ok := permissions[role][recordType]
	return ok
}
