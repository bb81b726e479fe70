package main

import (
	"errors"
	"testing"
)

func TestGCDefaults(t *testing.T) {
	noFile := func(string) ([]byte, error) { return nil, errors.New("no such file") }
	file := func(s string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if p != cgroupMemoryMax {
				t.Fatalf("read %s", p)
			}
			return []byte(s), nil
		}
	}
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	for _, tt := range []struct {
		name        string
		env         map[string]string
		read        func(string) ([]byte, error)
		wantPercent int
		wantLimit   int64
	}{
		{"nothing set, no cgroup", nil, noFile, defaultGCPercent, 0},
		{"cgroup limit", nil, file("1000000000\n"), defaultGCPercent, 900000000},
		{"cgroup without limit", nil, file("max\n"), defaultGCPercent, 0},
		{"GOGC set", map[string]string{"GOGC": "50"}, file("1000\n"), -1, 900},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, file("1000\n"), defaultGCPercent, 0},
		{"GOGC off", map[string]string{"GOGC": "off"}, noFile, -1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			percent, limit := gcDefaults(env(tt.env), tt.read)
			if percent != tt.wantPercent || limit != tt.wantLimit {
				t.Errorf("gcDefaults = %d, %d; want %d, %d", percent, limit, tt.wantPercent, tt.wantLimit)
			}
		})
	}
}
