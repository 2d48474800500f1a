package replica_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mobileVersion is the golang.org/x/mobile whose gobind checks the API.
const mobileVersion = "v0.0.0-20261011034528-197770444867"

const pkgPath = "github.com/shiftsync/shiftsync/mobile-contract/replica"

// TestGobind generates the Java and Objective-C bindings of this package
// with gobind, as `gomobile bind` would, and fails if gobind cannot, or if
// it skips any exported identifier (an exported signature using a type
// gomobile cannot carry, such as a map, a slice or a func). It installs the
// pinned gobind from the Go module proxy and skips, saying so, when that is
// not possible (offline). The bindings are generated in a Go workspace made
// of this module and a throwaway one requiring golang.org/x/mobile, so this
// module's go.mod does not depend on x/mobile.
func TestGobind(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: installs and runs gobind")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("gobind check skipped: no go command on PATH: %v", err)
	}
	dir := t.TempDir()
	env := func(extra ...string) []string {
		var out []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "GOWORK=") && !strings.HasPrefix(kv, "GOFLAGS=") && !strings.HasPrefix(kv, "GOBIN=") {
				out = append(out, kv)
			}
		}
		return append(out, extra...)
	}
	run := func(wd string, environ []string, name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = wd, environ
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	bin := filepath.Join(dir, "bin")
	if out, err := run(dir, env("GOBIN="+bin, "GOWORK=off"), goBin, "install", "golang.org/x/mobile/cmd/gobind@"+mobileVersion); err != nil {
		t.Skipf("gobind check skipped: cannot install gobind %s (offline?): %v\n%s", mobileVersion, err, out)
	}
	root, err := run(".", env(), goBin, "env", "GOMOD")
	if err != nil {
		t.Fatalf("go env GOMOD: %v\n%s", err, root)
	}
	mod := filepath.Join(dir, "mod")
	files := map[string]string{
		filepath.Join(mod, "go.mod"):   "module gobindcheck\n\ngo 1.26.0\n\nrequire golang.org/x/mobile " + mobileVersion + "\n",
		filepath.Join(mod, "tools.go"): "package gobindcheck\n\nimport _ \"golang.org/x/mobile/bind\"\n",
		filepath.Join(dir, "go.work"):  "go 1.26.0\n\nuse (\n\t./mod\n\t" + filepath.Dir(strings.TrimSpace(root)) + "\n)\n",
	}
	if err := os.Mkdir(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := run(mod, env("GOWORK=off", "GOFLAGS=-mod=mod"), goBin, "mod", "tidy"); err != nil {
		t.Skipf("gobind check skipped: cannot fetch golang.org/x/mobile %s (offline?): %v\n%s", mobileVersion, err, out)
	}

	outdir := filepath.Join(dir, "out")
	out, err := run(mod, env("GOWORK="+filepath.Join(dir, "go.work")), filepath.Join(bin, "gobind"),
		"-lang=go,java,objc", "-outdir="+outdir, pkgPath)
	if err != nil {
		t.Fatalf("gobind failed: %v\n%s", err, out)
	}

	// gobind leaves "// skipped ..." where an exported identifier cannot be
	// bound; the API must have none.
	err = filepath.WalkDir(outdir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "// skipped") {
				t.Errorf("%s: %s", filepath.Base(path), strings.TrimSpace(sc.Text()))
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}

	// The entry points a Kotlin or Swift app calls are all there.
	want := map[string][]string{
		"java/replica/Replica.java": {"open(String path, String deviceID) throws Exception", "String errorCode(java.lang.Exception err)", "String fieldErrorsJSON(java.lang.Exception err)"},
		"java/replica/Replica_.java": {
			"String create(String recordType, String serviceID, String personID, String fieldsJSON) throws Exception",
			"void edit(String recordID, String fieldsJSON) throws Exception",
			"SyncReport sync(String serverURL, String token) throws Exception",
			"Status status() throws Exception", "String recordJSON(String id) throws Exception",
			"String listJSON() throws Exception", "void setClock(Clock c)",
			"void enrol(String serverURL, String code, String label) throws Exception",
			"SyncReport syncEnrolled() throws Exception",
		},
		"java/replica/Status.java": {
			"long getOutboxDepth()", "long getOldestUnsyncedAgeSeconds()", "String getCursor()",
			"boolean getEnrolled()", "boolean getRevoked()", "String getUserID()",
		},
		"java/replica/SyncReport.java": {"String getConflictsJSON()", "long getQuarantined()", "long getPurged()", "String getPurgedJSON()"},
		"src/gobind/Replica.objc.h":    {"ReplicaOpen(NSString* _Nullable path", "- (ReplicaSyncReport* _Nullable)sync:", "- (ReplicaSyncReport* _Nullable)syncEnrolled:"},
	}
	for file, snippets := range want {
		b, err := os.ReadFile(filepath.Join(outdir, file))
		if err != nil {
			t.Errorf("gobind output lacks %s: %v", file, err)
			continue
		}
		for _, s := range snippets {
			if !strings.Contains(string(b), s) {
				t.Errorf("%s lacks %q", file, s)
			}
		}
	}
}
