package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/asfnet/asf/internal/cli"
	"github.com/asfnet/asf/internal/job"
	"gopkg.in/yaml.v3"
)

// The parts of the Kubernetes objects the checks read.
type (
	meta struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	}
	object struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   meta              `yaml:"metadata"`
		Data       map[string]string `yaml:"data"`
		StringData map[string]string `yaml:"stringData"`

		file     string
		podPorts map[string]port // a workload's container ports by name
		service  *serviceSpec
		workload *workloadSpec
	}
	serviceSpec struct {
		ClusterIP                string            `yaml:"clusterIP"`
		PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
		Selector                 map[string]string `yaml:"selector"`
		Ports                    []port            `yaml:"ports"`
	}
	port struct {
		Name          string `yaml:"name"`
		Port          int    `yaml:"port"`
		TargetPort    string `yaml:"targetPort"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	}
	workloadSpec struct {
		Replicas       *int   `yaml:"replicas"`
		Completions    *int   `yaml:"completions"`    // Job
		Parallelism    *int   `yaml:"parallelism"`    // Job
		CompletionMode string `yaml:"completionMode"` // Job
		ServiceName    string `yaml:"serviceName"`
		Selector       struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata meta    `yaml:"metadata"`
			Spec     podSpec `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata meta `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	}
	podSpec struct {
		RestartPolicy   string `yaml:"restartPolicy"`
		SecurityContext struct {
			RunAsUser *int `yaml:"runAsUser"`
			FSGroup   *int `yaml:"fsGroup"`
		} `yaml:"securityContext"`
		Containers []containerSpec `yaml:"containers"`
		Volumes    []volume        `yaml:"volumes"`
	}
	containerSpec struct {
		Name           string   `yaml:"name"`
		Image          string   `yaml:"image"`
		Env            []envVar `yaml:"env"`
		Ports          []port   `yaml:"ports"`
		VolumeMounts   []mount  `yaml:"volumeMounts"`
		StartupProbe   *probe   `yaml:"startupProbe"`
		ReadinessProbe *probe   `yaml:"readinessProbe"`
		LivenessProbe  *probe   `yaml:"livenessProbe"`
	}
	envVar struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
			ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
			SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	}
	keyRef struct {
		Name string `yaml:"name"`
		Key  string `yaml:"key"`
	}
	probe struct {
		GRPC *struct {
			Port int `yaml:"port"`
		} `yaml:"grpc"`
		TCPSocket *struct {
			Port string `yaml:"port"`
		} `yaml:"tcpSocket"`
		HTTPGet *struct {
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
		Exec *struct {
			Command []string `yaml:"command"`
		} `yaml:"exec"`
	}
	mount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	}
	volume struct {
		Name                  string `yaml:"name"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"persistentVolumeClaim"`
		ConfigMap *struct {
			Name  string     `yaml:"name"`
			Items []keyItems `yaml:"items"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string     `yaml:"secretName"`
			Items      []keyItems `yaml:"items"`
		} `yaml:"secret"`
	}
	keyItems struct {
		Key  string `yaml:"key"`
		Path string `yaml:"path"`
	}
	kustomization struct {
		Namespace string   `yaml:"namespace"`
		Resources []string `yaml:"resources"`
		Images    []struct {
			Name string `yaml:"name"`
		} `yaml:"images"`
	}
)

// manifests is a parsed directory of manifests.
type manifests struct {
	objects []*object
	kust    kustomization
	files   []string // the manifest files other than kustomization.yaml
	flags   map[string][]string
}

// loadManifests parses every *.yaml file of dir (several documents per file
// allowed) and the flags of the binaries from their sources.
func loadManifests(dir, repo string) (*manifests, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	m := &manifests{flags: map[string][]string{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		base := filepath.Base(f)
		if base == "kustomization.yaml" {
			if err := yaml.Unmarshal(data, &m.kust); err != nil {
				return nil, fmt.Errorf("%s: %w", base, err)
			}
			continue
		}
		m.files = append(m.files, base)
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for i := 0; ; i++ {
			var n yaml.Node
			if err := dec.Decode(&n); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", base, i+1, err)
			}
			o := &object{file: base}
			if err := n.Decode(o); err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", base, i+1, err)
			}
			var spec struct {
				Spec yaml.Node `yaml:"spec"`
			}
			if err := n.Decode(&spec); err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", base, i+1, err)
			}
			switch o.Kind {
			case "Service":
				o.service = &serviceSpec{}
				err = spec.Spec.Decode(o.service)
			case "StatefulSet", "Deployment", "Job":
				o.workload = &workloadSpec{}
				err = spec.Spec.Decode(o.workload)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %s %s: spec: %w", base, o.Kind, o.Metadata.Name, err)
			}
			m.objects = append(m.objects, o)
		}
	}
	m.flags["asf-coordinator"] = cli.FlagNames(cli.Coordinator())
	m.flags["asf-worker"] = cli.FlagNames(cli.Worker())
	return m, nil
}

func (m *manifests) find(kind, name string) *object {
	for _, o := range m.objects {
		if o.Kind == kind && o.Metadata.Name == name {
			return o
		}
	}
	return nil
}

func (o *object) String() string { return fmt.Sprintf("%s %s (%s)", o.Kind, o.Metadata.Name, o.file) }

// selects reports whether selector (non-empty) matches labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// check returns every disagreement between the manifests.
func (m *manifests) check() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	// The kustomization lists exactly the manifest files.
	res := slices.Sorted(slices.Values(m.kust.Resources))
	files := slices.Sorted(slices.Values(m.files))
	if !slices.Equal(res, files) {
		bad("kustomization.yaml: resources %v, the directory holds %v", res, files)
	}
	ns := m.kust.Namespace
	if ns == "" {
		bad("kustomization.yaml: no namespace")
	}
	images := map[string]bool{}
	for _, im := range m.kust.Images {
		images[im.Name] = true
	}

	// Every object: named, labelled, in the namespace, once.
	seen := map[string]bool{}
	for _, o := range m.objects {
		key := o.Kind + "/" + o.Metadata.Name
		switch {
		case o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "":
			bad("%s: apiVersion, kind and metadata.name are required", o)
		case seen[key]:
			bad("%s: defined twice", o)
		}
		seen[key] = true
		if o.Kind == "Namespace" {
			if o.Metadata.Name != ns {
				bad("%s: the kustomization's namespace is %q", o, ns)
			}
		} else if o.Metadata.Namespace != ns {
			bad("%s: namespace %q, want %q", o, o.Metadata.Namespace, ns)
		}
		if o.Metadata.Labels["app.kubernetes.io/part-of"] != "asf" {
			bad("%s: label app.kubernetes.io/part-of=asf missing", o)
		}
	}
	if m.find("Namespace", ns) == nil {
		bad("no Namespace %s", ns)
	}

	var workloads []*object
	for _, o := range m.objects {
		if o.workload != nil {
			workloads = append(workloads, o)
		}
	}
	if m.find("Job", "asf-coordinator") == nil || m.find("Job", "asf-worker") == nil {
		bad("want Job asf-coordinator and Job asf-worker (batch/v1: they complete when the training job is done)")
	}

	// Workloads: selectors, volumes, env, ports, probes.
	for _, o := range workloads {
		w := o.workload
		tpl := w.Template.Metadata.Labels
		if o.Kind != "Job" && !selects(w.Selector.MatchLabels, tpl) { // a Job's selector is generated
			bad("%s: selector %v does not match its pod labels %v", o, w.Selector.MatchLabels, tpl)
		}
		if o.Kind == "Job" {
			one := func(p *int) bool { return p != nil && *p == 1 }
			switch rp := w.Template.Spec.RestartPolicy; {
			case rp != "OnFailure" && rp != "Never":
				bad("%s: restartPolicy %q, want OnFailure (a Job's pods may not restart Always)", o, rp)
			case tpl["app.kubernetes.io/component"] == "coordinator" && (!one(w.Completions) || !one(w.Parallelism)):
				bad("%s: the coordinator must have exactly 1 completion and parallelism 1", o)
			case tpl["app.kubernetes.io/component"] == "worker" && w.CompletionMode != "Indexed":
				bad("%s: completionMode %q, want Indexed (each worker's id comes from its index)", o, w.CompletionMode)
			case w.Completions == nil || w.Parallelism == nil || *w.Completions != *w.Parallelism:
				bad("%s: completions and parallelism must be set and equal (every pod runs until the job is done)", o)
			}
			for _, c := range w.Template.Spec.Containers {
				for _, e := range c.Env {
					if e.Name == "ASF_LINGER" && e.Value != "false" {
						bad("%s container %s: ASF_LINGER=%s keeps the pod up after the training job, so the Job never completes", o, c.Name, e.Value)
					}
				}
			}
		}
		if o.Kind == "StatefulSet" {
			if w.Replicas == nil || *w.Replicas != 1 {
				bad("%s: the coordinator must have exactly 1 replica", o)
			}
			svc := m.find("Service", w.ServiceName)
			switch {
			case svc == nil:
				bad("%s: serviceName %q: no such Service", o, w.ServiceName)
			case svc.service.ClusterIP != "None":
				bad("%s: serviceName %q is not headless", o, w.ServiceName)
			case !selects(svc.service.Selector, tpl):
				bad("%s: its Service %s does not select its pods", o, w.ServiceName)
			}
		}
		vols := map[string]volume{}
		for _, v := range w.Template.Spec.Volumes {
			if _, dup := vols[v.Name]; dup {
				bad("%s: volume %q defined twice", o, v.Name)
			}
			vols[v.Name] = v
		}
		claims := map[string]bool{}
		for _, c := range w.VolumeClaimTemplates {
			claims[c.Metadata.Name] = true
		}
		mounted := map[string]bool{}
		ports := map[string]port{}
		for _, c := range w.Template.Spec.Containers {
			where := fmt.Sprintf("%s container %s", o, c.Name)
			if len(images) > 0 && !images[c.Image] {
				bad("%s: image %q is not among the kustomization's images", where, c.Image)
			}
			mountPaths := map[string]mount{}
			for _, vm := range c.VolumeMounts {
				mounted[vm.Name] = true
				mountPaths[vm.MountPath] = vm
				v, isVol := vols[vm.Name]
				if !isVol && !claims[vm.Name] {
					bad("%s: mounts %q, which is neither a volume nor a volume claim template", where, vm.Name)
				}
				if isVol && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ReadOnly && !vm.ReadOnly {
					bad("%s: mounts the read-only claim %q writable", where, vm.Name)
				}
			}
			for _, p := range c.Ports {
				if p.Name != "" {
					if _, dup := ports[p.Name]; dup {
						bad("%s: port name %q used twice", where, p.Name)
					}
					ports[p.Name] = p
				}
			}
			containerPort := func(n int) bool {
				return slices.ContainsFunc(c.Ports, func(p port) bool { return p.ContainerPort == n })
			}
			for name, p := range map[string]*probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
				if p == nil {
					bad("%s: no %s", where, name)
				} else if p.GRPC != nil && !containerPort(p.GRPC.Port) {
					bad("%s: %s checks gRPC port %d, which the container does not declare", where, name, p.GRPC.Port)
				} else if p.HTTPGet != nil && !slices.ContainsFunc(c.Ports, func(q port) bool { return q.Name == p.HTTPGet.Port }) {
					bad("%s: %s gets HTTP port %q, which the container does not declare", where, name, p.HTTPGet.Port)
				}
			}
			m.checkEnv(o, c, mountPaths, vols, claims, bad)
		}
		for name, v := range vols {
			if !mounted[name] {
				bad("%s: volume %q is mounted by no container", o, name)
			}
			switch {
			case v.PersistentVolumeClaim != nil:
				if m.find("PersistentVolumeClaim", v.PersistentVolumeClaim.ClaimName) == nil {
					bad("%s: volume %q: no PersistentVolumeClaim %q", o, name, v.PersistentVolumeClaim.ClaimName)
				}
			case v.ConfigMap != nil:
				cm := m.find("ConfigMap", v.ConfigMap.Name)
				if cm == nil {
					bad("%s: volume %q: no ConfigMap %q", o, name, v.ConfigMap.Name)
					break
				}
				for _, it := range v.ConfigMap.Items {
					if _, ok := cm.Data[it.Key]; !ok {
						bad("%s: volume %q: ConfigMap %s has no key %q", o, name, cm.Metadata.Name, it.Key)
					}
				}
			case v.Secret != nil:
				sec := m.find("Secret", v.Secret.SecretName)
				if sec == nil {
					bad("%s: volume %q: no Secret %q", o, name, v.Secret.SecretName)
					break
				}
				for _, it := range v.Secret.Items {
					_, a := sec.Data[it.Key]
					_, b := sec.StringData[it.Key]
					if !a && !b {
						bad("%s: volume %q: Secret %s has no key %q", o, name, sec.Metadata.Name, it.Key)
					}
				}
				if w.Template.Spec.SecurityContext.FSGroup == nil && w.Template.Spec.SecurityContext.RunAsUser != nil {
					bad("%s: mounts Secret %s but sets no fsGroup: a non-root process cannot read its files", o, sec.Metadata.Name)
				}
			default:
				bad("%s: volume %q: want a persistentVolumeClaim, configMap or secret", o, name)
			}
		}
		for name := range claims {
			if !mounted[name] {
				bad("%s: volume claim template %q is mounted by no container", o, name)
			}
		}
		o.podPorts = ports
	}

	// Services select pods that declare their target ports.
	for _, o := range m.objects {
		if o.service == nil {
			continue
		}
		var sel []*object
		for _, w := range workloads {
			if selects(o.service.Selector, w.workload.Template.Metadata.Labels) {
				sel = append(sel, w)
			}
		}
		if len(sel) == 0 {
			bad("%s: selector %v matches no workload's pods", o, o.service.Selector)
			continue
		}
		for _, p := range o.service.Ports {
			if p.Name == "" || p.Port == 0 {
				bad("%s: every port needs a name and a number", o)
				continue
			}
			proto := cmp(p.Protocol, "TCP")
			for _, w := range sel {
				target := cmp(p.TargetPort, fmt.Sprint(p.Port))
				var named, same bool
				for _, cp := range w.podPorts {
					if cp.Name == target || fmt.Sprint(cp.ContainerPort) == target {
						named = true
						same = same || cmp(cp.Protocol, "TCP") == proto
					}
				}
				switch {
				case !named:
					bad("%s: port %s targets %q, which %s does not declare", o, p.Name, target, w)
				case !same:
					bad("%s: port %s is %s, %s declares %s for another protocol", o, p.Name, proto, w, target)
				}
			}
		}
	}
	return errs
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkEnv checks a container's environment: $(VAR) references, ASF_*
// variables against the binary's flags, and the paths and addresses they
// name against the mounts and services.
func (m *manifests) checkEnv(o *object, c containerSpec, mounts map[string]mount, vols map[string]volume, claims map[string]bool, bad func(string, ...any)) {
	where := fmt.Sprintf("%s container %s", o, c.Name)
	bin := "asf-" + o.workload.Template.Metadata.Labels["app.kubernetes.io/component"]
	flags, ok := m.flags[bin]
	if !ok {
		bad("%s: label app.kubernetes.io/component should be coordinator or worker", where)
		return
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			bad("%s: %s set twice", where, e.Name)
		}
		for _, ref := range envRef.FindAllStringSubmatch(e.Value, -1) {
			if _, ok := env[ref[1]]; !ok {
				bad("%s: %s refers to $(%s), not defined before it", where, e.Name, ref[1])
			}
		}
		if e.ValueFrom != nil {
			for _, r := range []*keyRef{e.ValueFrom.ConfigMapKeyRef, e.ValueFrom.SecretKeyRef} {
				if r == nil {
					continue
				}
				kind := "ConfigMap"
				if r == e.ValueFrom.SecretKeyRef {
					kind = "Secret"
				}
				ref := m.find(kind, r.Name)
				if ref == nil {
					bad("%s: %s: no %s %q", where, e.Name, kind, r.Name)
				} else if _, ok := ref.Data[r.Key]; !ok {
					if _, ok := ref.StringData[r.Key]; !ok {
						bad("%s: %s: %s %s has no key %q", where, e.Name, kind, r.Name, r.Key)
					}
				}
			}
		}
		env[e.Name] = e.Value
		if strings.HasPrefix(e.Name, "ASF_") {
			flag := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(e.Name, "ASF_")), "_", "-")
			if !slices.Contains(flags, flag) {
				bad("%s: %s is no flag of %s (--%s; its flags: %v)", where, e.Name, bin, flag, flags)
			}
		}
	}
	under := func(p string) (mount, bool) {
		for dir := p; ; dir = path.Dir(dir) {
			if mt, ok := mounts[dir]; ok {
				return mt, true
			}
			if dir == "/" || dir == "." {
				return mount{}, false
			}
		}
	}
	if d, ok := env["ASF_DATA_DIR"]; !ok {
		bad("%s: ASF_DATA_DIR not set", where)
	} else if mt, ok := mounts[d]; !ok || !mt.ReadOnly || vols[mt.Name].PersistentVolumeClaim == nil {
		bad("%s: ASF_DATA_DIR=%s is not a read-only mount of a claim", where, d)
	}
	if s, ok := env["ASF_STORE"]; ok {
		mt, ok := under(s)
		v := vols[mt.Name]
		switch {
		case !ok || mt.ReadOnly || !claims[mt.Name] && v.PersistentVolumeClaim == nil:
			bad("%s: ASF_STORE=%s is not on a writable volume claim (the persistent store)", where, s)
		case v.PersistentVolumeClaim != nil:
			for _, other := range m.objects {
				if other == o || other.workload == nil {
					continue
				}
				for _, ov := range other.workload.Template.Spec.Volumes {
					if ov.PersistentVolumeClaim != nil && ov.PersistentVolumeClaim.ClaimName == v.PersistentVolumeClaim.ClaimName {
						bad("%s: ASF_STORE=%s: its claim %s is mounted by %s too", where, s, v.PersistentVolumeClaim.ClaimName, other)
					}
				}
			}
		}
	}
	if j, ok := env["ASF_JOB_FILE"]; ok {
		mt, ok := under(j)
		v := vols[mt.Name]
		if !ok || v.ConfigMap == nil {
			bad("%s: ASF_JOB_FILE=%s is not in a ConfigMap mount", where, j)
		} else if cm := m.find("ConfigMap", v.ConfigMap.Name); cm != nil {
			rel := strings.TrimPrefix(j, strings.TrimSuffix(mt.MountPath, "/")+"/")
			key := rel
			for _, it := range v.ConfigMap.Items {
				if it.Path == rel {
					key = it.Key
				}
			}
			if text, ok := cm.Data[key]; !ok {
				bad("%s: ASF_JOB_FILE=%s: ConfigMap %s has no key for %s", where, j, cm.Metadata.Name, rel)
			} else if _, err := job.Parse([]byte(text), job.Default()); err != nil {
				bad("ConfigMap %s key %s: %v", cm.Metadata.Name, key, err)
			}
		}
	}
	if j, ok := env["ASF_JOIN"]; ok {
		for _, addr := range strings.Split(j, ",") {
			host, portStr, _ := strings.Cut(addr, ":")
			svc := m.find("Service", strings.Split(host, ".")[0])
			if svc == nil {
				bad("%s: ASF_JOIN=%s: no Service %q", where, j, host)
				continue
			}
			if svc.service.ClusterIP != "None" {
				bad("%s: ASF_JOIN=%s: Service %s is not headless (its name would give one address, not every pod's)", where, j, host)
			}
			if !slices.ContainsFunc(svc.service.Ports, func(p port) bool { return fmt.Sprint(p.Port) == portStr && strings.HasPrefix(p.Name, "gossip") }) {
				bad("%s: ASF_JOIN=%s: Service %s has no gossip port %s", where, j, host, portStr)
			}
		}
	}
	if b, ok := env["ASF_GOSSIP_BIND"]; ok {
		_, p, _ := strings.Cut(b, ":")
		if !slices.ContainsFunc(c.Ports, func(cp port) bool { return fmt.Sprint(cp.ContainerPort) == p && cp.Protocol == "UDP" }) ||
			!slices.ContainsFunc(c.Ports, func(cp port) bool { return fmt.Sprint(cp.ContainerPort) == p && cmp(cp.Protocol, "TCP") == "TCP" }) {
			bad("%s: ASF_GOSSIP_BIND=%s: the container does not declare port %s for both TCP and UDP", where, b, p)
		}
	}
	if l, ok := env["ASF_LISTEN"]; ok {
		_, p, _ := strings.Cut(l, ":")
		if !slices.ContainsFunc(c.Ports, func(cp port) bool { return fmt.Sprint(cp.ContainerPort) == p }) {
			bad("%s: ASF_LISTEN=%s: the container does not declare port %s", where, l, p)
		}
	}
}

func load(t *testing.T) *manifests {
	t.Helper()
	m, err := loadManifests(".", filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestManifests checks that the manifests of this directory agree.
func TestManifests(t *testing.T) {
	m := load(t)
	if len(m.objects) < 9 {
		t.Fatalf("parsed %d objects from %v, want the 9 of the layout", len(m.objects), m.files)
	}
	for _, err := range m.check() {
		t.Error(err)
	}
}

// TestCheckFindsMistakes breaks the manifests one way at a time and expects
// the check to say so.
func TestCheckFindsMistakes(t *testing.T) {
	coordinator := func(m *manifests) *workloadSpec { return m.find("Job", "asf-coordinator").workload }
	workers := func(m *manifests) *workloadSpec { return m.find("Job", "asf-worker").workload }
	worker := func(m *manifests) *containerSpec { return &workers(m).Template.Spec.Containers[0] }
	setEnv := func(c *containerSpec, name, value string) {
		for i := range c.Env {
			if c.Env[i].Name == name {
				c.Env[i].Value = value
				return
			}
		}
		c.Env = append(c.Env, envVar{Name: name, Value: value})
	}
	tests := []struct {
		name   string
		mutate func(m *manifests)
		want   string
	}{
		{"file not in kustomization", func(m *manifests) { m.kust.Resources = m.kust.Resources[1:] }, "kustomization.yaml: resources"},
		{"wrong namespace", func(m *manifests) { m.find("ConfigMap", "asf-job").Metadata.Namespace = "default" }, `namespace "default"`},
		{"restart policy", func(m *manifests) { coordinator(m).Template.Spec.RestartPolicy = "Always" }, `restartPolicy "Always"`},
		{"workers not indexed", func(m *manifests) { workers(m).CompletionMode = "NonIndexed" }, `completionMode "NonIndexed"`},
		{"parallelism", func(m *manifests) { n := 2; workers(m).Parallelism = &n }, "completions and parallelism must be set and equal"},
		{"linger", func(m *manifests) { setEnv(worker(m), "ASF_LINGER", "true") }, "the Job never completes"},
		{"store shared", func(m *manifests) {
			workers(m).Template.Spec.Volumes = append(workers(m).Template.Spec.Volumes, volume{Name: "store",
				PersistentVolumeClaim: &struct {
					ClaimName string `yaml:"claimName"`
					ReadOnly  bool   `yaml:"readOnly"`
				}{ClaimName: "asf-store"}})
		}, "its claim asf-store is mounted by"},
		{"service selects nothing", func(m *manifests) {
			m.find("Service", "asf-coordinator").service.Selector["app.kubernetes.io/component"] = "coord"
		}, "matches no workload's pods"},
		{"target port", func(m *manifests) { m.find("Service", "asf-gossip").service.Ports[0].TargetPort = "gossip" }, `targets "gossip"`},
		{"protocol", func(m *manifests) { m.find("Service", "asf-gossip").service.Ports[1].Protocol = "TCP" }, "port gossip-udp is TCP"},
		{"not headless", func(m *manifests) { m.find("Service", "asf-gossip").service.ClusterIP = "" }, "is not headless"},
		{"mount of no volume", func(m *manifests) { worker(m).VolumeMounts[0].Name = "dataset" }, `mounts "dataset"`},
		{"claim", func(m *manifests) {
			for i, v := range coordinator(m).Template.Spec.Volumes {
				if v.PersistentVolumeClaim != nil {
					coordinator(m).Template.Spec.Volumes[i].PersistentVolumeClaim.ClaimName = "data"
				}
			}
		}, `no PersistentVolumeClaim "data"`},
		{"configmap key", func(m *manifests) {
			cm := m.find("ConfigMap", "asf-job")
			cm.Data = map[string]string{"job.yaml": cm.Data["job.json"]}
		}, `has no key "job.json"`},
		{"bad job", func(m *manifests) {
			m.find("ConfigMap", "asf-job").Data["job.json"] = `{"batch": 60, "micro_batch": 8}`
		}, "batch 60 is not a multiple"},
		{"secret", func(m *manifests) { m.find("Secret", "asf-secrets").Metadata.Name = "asf-secret" }, `no Secret "asf-secrets"`},
		{"unknown flag", func(m *manifests) { setEnv(worker(m), "ASF_WORKERS", "3") }, "ASF_WORKERS is no flag of asf-worker"},
		{"coordinator flag on a worker", func(m *manifests) { setEnv(worker(m), "ASF_STORE", "/data/asf.db") }, "ASF_STORE is no flag of asf-worker"},
		{"env reference", func(m *manifests) { setEnv(worker(m), "ASF_ADVERTISE", "$(MY_IP):7070") }, "refers to $(MY_IP)"},
		{"data dir", func(m *manifests) { setEnv(worker(m), "ASF_DATA_DIR", "/datasets") }, "ASF_DATA_DIR=/datasets is not a read-only mount"},
		{"join", func(m *manifests) { setEnv(worker(m), "ASF_JOIN", "asf-gossip:7947") }, "has no gossip port 7947"},
		{"listen port", func(m *manifests) { setEnv(worker(m), "ASF_LISTEN", ":7071") }, "does not declare port 7071"},
		{"probe port", func(m *manifests) { worker(m).ReadinessProbe.HTTPGet.Port = "metrics" }, `gets HTTP port "metrics"`},
		{"image", func(m *manifests) { worker(m).Image = "asf:latest" }, `image "asf:latest"`},
		{"two coordinators", func(m *manifests) { n := 2; coordinator(m).Parallelism = &n }, "exactly 1 completion and parallelism 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := load(t)
			tc.mutate(m)
			errs := m.check()
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.want) {
					return
				}
			}
			t.Fatalf("want an error saying %q, got %v", tc.want, errs)
		})
	}
}
