package chatstate_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/chatstate/chatstate"

// forbidden lists, for each package of the module, the module packages it
// must never depend on, directly or not. See DESIGN.md's layering: fsm
// imports none of the others, node imports only fsm, httpapi talks to the
// node through an interface of its own, and the client and benchmark use
// only the public HTTP API.
var forbidden = map[string][]string{
	"fsm":         {"node", "httpapi", "cluster", "client", "bench", "cmd"},
	"node":        {"httpapi", "cluster", "client", "bench", "cmd"},
	"httpapi":     {"node", "cluster", "client", "bench", "cmd"},
	"cluster":     {"httpapi", "client", "bench", "cmd"},
	"client":      {"node", "httpapi", "cluster", "bench", "cmd"},
	"bench":       {"node", "httpapi", "cluster", "cmd"},
	"fsm/dataset": {"node", "httpapi", "cluster", "client", "bench", "cmd"},
}

func TestImportsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]bool{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct{ ImportPath string }
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = true
	}
	for pkg, bad := range forbidden {
		path := module + "/" + pkg
		if !pkgs[path] {
			continue // not written yet
		}
		deps, err := exec.Command("go", "list", "-deps", path).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", path, err)
		}
		for _, dep := range strings.Fields(string(deps)) {
			rel, ok := strings.CutPrefix(dep, module+"/")
			if !ok {
				continue
			}
			for _, b := range bad {
				if rel == b || strings.HasPrefix(rel, b+"/") {
					t.Errorf("%s depends on %s: imports must point down the layering", pkg, rel)
				}
			}
		}
	}
}
