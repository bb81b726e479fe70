package examples

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/api2mcp/api2mcp/configs"
)

// TestKubernetesManifests checks that the sidecar manifests agree with what
// the binary reads and serves: they cannot run here, but they can be read.
func TestKubernetesManifests(t *testing.T) {
	data, err := os.ReadFile("kubernetes/api2mcp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type container struct {
		Name  string   `yaml:"name"`
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		Env []struct {
			Name string `yaml:"name"`
		} `yaml:"env"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
		ReadinessProbe probe `yaml:"readinessProbe"`
		LivenessProbe  probe `yaml:"livenessProbe"`
	}
	type manifest struct {
		Kind string            `yaml:"kind"`
		Data map[string]string `yaml:"data"`
		Spec struct {
			Template struct {
				Spec struct {
					TerminationGracePeriodSeconds int         `yaml:"terminationGracePeriodSeconds"`
					Containers                    []container `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	var configYAML string
	var pod *manifest
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var m manifest
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch m.Kind {
		case "ConfigMap":
			configYAML = m.Data["mcp.yaml"]
		case "Deployment":
			pod = &m
		}
	}
	if configYAML == "" || pod == nil {
		t.Fatal("want a ConfigMap with mcp.yaml and a Deployment")
	}
	cfg, err := configs.Load("mcp.yaml", &configs.Options{
		Environ:   func() []string { return nil },
		LookupEnv: func(string) (string, bool) { return "k8s-secret-of-some-length", true },
		ReadFile:  func(string) ([]byte, error) { return []byte(configYAML), nil },
	})
	if err != nil {
		t.Fatalf("the ConfigMap's mcp.yaml does not load:\n%v", err)
	}
	idx := slices.IndexFunc(pod.Spec.Template.Spec.Containers, func(c container) bool { return c.Name == "api2mcp" })
	if idx < 0 {
		t.Fatal("no api2mcp container")
	}
	c := pod.Spec.Template.Spec.Containers[idx]

	// Every ${VAR} the config needs is in the container's environment.
	var env []string
	for _, e := range c.Env {
		env = append(env, e.Name)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllStringSubmatch(configYAML, -1) {
		if !slices.Contains(env, m[1]) {
			t.Errorf("the config needs %s, which the api2mcp container's env does not set", m[1])
		}
	}
	// -c points into the config mount.
	ci := slices.Index(c.Args, "-c")
	if ci < 0 || ci+1 >= len(c.Args) || c.Args[0] != "serve" {
		t.Fatalf("args %v: want serve -c FILE", c.Args)
	}
	if len(c.VolumeMounts) != 1 || !strings.HasPrefix(c.Args[ci+1], c.VolumeMounts[0].MountPath+"/") || !strings.HasSuffix(c.Args[ci+1], "/mcp.yaml") {
		t.Errorf("-c %s is not the ConfigMap's mcp.yaml under %v", c.Args[ci+1], c.VolumeMounts)
	}
	// Probes hit the endpoints the server has, on the port it listens on.
	_, port, err := net.SplitHostPort(cfg.Server.Listen)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort == 0 || port != strconv.Itoa(c.Ports[0].ContainerPort) {
		t.Errorf("containerPort %v, want server.listen's port %s", c.Ports, port)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port != c.Ports[0].Name {
		t.Errorf("readiness probe %+v, want /readyz on %s", c.ReadinessProbe.HTTPGet, c.Ports[0].Name)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.LivenessProbe.HTTPGet.Port != c.Ports[0].Name {
		t.Errorf("liveness probe %+v, want /healthz on %s", c.LivenessProbe.HTTPGet, c.Ports[0].Name)
	}
	// Graceful shutdown fits in the pod's grace period.
	grace := time.Duration(pod.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	if grace <= cfg.Server.ShutdownTimeout {
		t.Errorf("terminationGracePeriodSeconds %s <= server.shutdown_timeout %s", grace, cfg.Server.ShutdownTimeout)
	}
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}
