package shiftsync_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"testing"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestReasons: Reasons lists every Reason constant declared, once.
func TestReasons(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "mutation.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := 0
	ast.Inspect(f, func(n ast.Node) bool {
		v, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		if id, ok := v.Type.(*ast.Ident); ok && id.Name == "Reason" {
			for _, val := range v.Values {
				lit := val.(*ast.BasicLit).Value
				declared++
				if !slices.Contains(shiftsync.Reasons, shiftsync.Reason(lit[1:len(lit)-1])) {
					t.Errorf("reason %s is not in Reasons", lit)
				}
			}
		}
		return true
	})
	if declared != len(shiftsync.Reasons) {
		t.Errorf("%d reasons declared, %d in Reasons", declared, len(shiftsync.Reasons))
	}
}
