package cli

import (
	"errors"
	"io/fs"
	"runtime/debug"
	"testing"
)

func TestContainerMemoryLimit(t *testing.T) {
	v2, v1 := cgroupMemoryFiles[0], cgroupMemoryFiles[1]
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"V2Limit", map[string]string{v2: "536870912\n"}, 536870912},
		{"V2None", map[string]string{v2: "max\n", v1: "1073741824\n"}, 0},
		{"V1Limit", map[string]string{v1: "1073741824\n"}, 1073741824},
		{"V1Unlimited", map[string]string{v1: "9223372036854771712\n"}, 0},
		{"NoCgroup", map[string]string{}, 0},
		{"Garbage", map[string]string{v2: "lots\n"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := func(name string) ([]byte, error) {
				if v, ok := tc.files[name]; ok {
					return []byte(v), nil
				}
				return nil, fs.ErrNotExist
			}
			if got := containerMemoryLimit(read); got != tc.want {
				t.Fatalf("containerMemoryLimit = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestTuneGC(t *testing.T) {
	// tuneGC changes the process's settings: put them back.
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	limited := func(string) ([]byte, error) { return []byte("1000000000\n"), nil }
	none := func(string) ([]byte, error) { return nil, errors.New("no cgroup") }

	if got := tuneGC(env(nil), limited); got != 900000000 {
		t.Fatalf("in a container of 1e9 bytes: limit %d, want 9e8", got)
	}
	if p := debug.SetGCPercent(100); p != serveGCPercent {
		t.Fatalf("GC percent %d, want %d", p, serveGCPercent)
	}
	if l := debug.SetMemoryLimit(-1); l != 900000000 {
		t.Fatalf("memory limit %d, want 9e8", l)
	}
	if got := tuneGC(env(nil), none); got != 0 {
		t.Fatalf("outside a container: limit %d, want none", got)
	}
	if got := tuneGC(env(map[string]string{"GOMEMLIMIT": "1GiB"}), limited); got != 0 {
		t.Fatalf("with GOMEMLIMIT set: limit %d, want none", got)
	}
	debug.SetGCPercent(100)
	if got := tuneGC(env(map[string]string{"GOGC": "100"}), limited); got != 0 {
		t.Fatalf("with GOGC set: limit %d, want none", got)
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Fatalf("with GOGC set, GC percent changed to %d", p)
	}
}
