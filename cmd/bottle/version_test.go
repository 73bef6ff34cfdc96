package main

import (
	"bytes"
	"encoding/json"
	"runtime/debug"
	"testing"
)

func TestVersionFromBuildInfo(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name                   string
		ver, rev, date         string
		bi                     *debug.BuildInfo
		wantVer, wantRev, want string
	}{
		{"stamped by the Makefile", "v1.2.0-3-gabc", "abc123", "2026-12-01T10:00:00Z",
			&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("vcs.revision", "fff", "vcs.time", "2020-01-01T00:00:00Z")},
			"v1.2.0-3-gabc", "abc123", "2026-12-01T10:00:00Z"},
		{"go install of a release", "", "", "",
			&debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}},
			"v1.2.3", "unknown", "unknown"},
		{"go install of a commit", "", "", "",
			&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261206071700-8cdb545c0ffe"}},
			"v0.0.0-20261206071700-8cdb545c0ffe", "8cdb545c0ffe", "2026-12-06T07:17:00Z"},
		{"go install of a commit after a tag", "", "", "",
			&debug.BuildInfo{Main: debug.Module{Version: "v1.2.4-0.20261206071700-8cdb545c0ffe"}},
			"v1.2.4-0.20261206071700-8cdb545c0ffe", "8cdb545c0ffe", "2026-12-06T07:17:00Z"},
		{"go build in a modified checkout", "", "", "",
			&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261206071700-8cdb545c0ffe+dirty"},
				Settings: vcs("vcs.revision", "8cdb545c0ffee", "vcs.time", "2026-12-06T07:17:00Z", "vcs.modified", "true")},
			"v0.0.0-20261206071700-8cdb545c0ffe+dirty", "8cdb545c0ffee-dirty", "2026-12-06T07:17:00Z"},
		{"go build with no VCS", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev", "unknown", "unknown"},
		{"no build information", "", "", "", nil, "dev", "unknown", "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, r, d := fromBuildInfo(tc.ver, tc.rev, tc.date, tc.bi)
			if v != tc.wantVer || r != tc.wantRev || d != tc.want {
				t.Errorf("got %q %q %q, want %q %q %q", v, r, d, tc.wantVer, tc.wantRev, tc.want)
			}
		})
	}
}

func testReport(podman bool) versionReport {
	var r versionReport
	r.Bottle.Version, r.Bottle.Commit, r.Bottle.Built = "v1.2.3", "8cdb545c0ffe", "2026-12-06T07:17:00Z"
	r.Bottle.Go, r.Bottle.Platform, r.Bottle.SidecarImage = "go1.26.8", "linux/amd64", "localhost/bottle-sidecar:c6f9e319ac574895"
	if podman {
		r.Podman = &podmanVersion{Version: "5.4.2", APIVersion: "5.4.2", URI: "unix:///run/user/1000/podman/podman.sock", Rootless: true}
	}
	return r
}

func TestPrintVersion(t *testing.T) {
	var b bytes.Buffer
	printVersion(&b, testReport(true), false)
	want := `bottle:
  version:       v1.2.3
  commit:        8cdb545c0ffe
  built:         2026-12-06T07:17:00Z
  go:            go1.26.8
  platform:      linux/amd64
  sidecar image: localhost/bottle-sidecar:c6f9e319ac574895
podman service:
  version:       5.4.2
  API version:   5.4.2
  socket:        unix:///run/user/1000/podman/podman.sock (rootless)
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	r := testReport(true)
	r.Podman.Rootless, r.Podman.Private = false, true
	printVersion(&b, r, false)
	if !bytes.Contains(b.Bytes(), []byte("(rootful, started for this command)\n")) {
		t.Errorf("a private service is not said to be one:\n%s", b.String())
	}
	b.Reset()
	printVersion(&b, testReport(false), false)
	if bytes.Contains(b.Bytes(), []byte("podman")) {
		t.Errorf("with no service, the text names one:\n%s", b.String())
	}
}

func TestPrintVersionJSON(t *testing.T) {
	for _, podman := range []bool{true, false} {
		var b bytes.Buffer
		if err := printVersion(&b, testReport(podman), true); err != nil {
			t.Fatal(err)
		}
		var got map[string]map[string]any
		if err := json.Unmarshal(b.Bytes(), &got); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, b.String())
		}
		for _, k := range []string{"version", "commit", "built", "go", "platform", "sidecar_image"} {
			if got["bottle"][k] == "" || got["bottle"][k] == nil {
				t.Errorf("bottle.%s missing: %s", k, b.String())
			}
		}
		if !podman {
			if _, ok := got["podman"]; !ok || got["podman"] != nil {
				t.Errorf("with no service, podman is not null: %s", b.String())
			}
			continue
		}
		if got["podman"]["version"] != "5.4.2" || got["podman"]["api_version"] != "5.4.2" || got["podman"]["rootless"] != true {
			t.Errorf("podman: %v", got["podman"])
		}
	}
}
