package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

func init() {
	Register(Factory{
		Type:      "argo_rollouts",
		Actions:   []release.Action{release.ActionRollback, release.ActionPause},
		NewConfig: func() any { return &ArgoRolloutsConfig{Rollout: "{service.name}"} },
		New:       func(cfg any) (Target, error) { return &argoRollouts{cfg: cfg.(*ArgoRolloutsConfig)}, nil },
	})
}

// ArgoRolloutsConfig configures the Argo Rollouts target: rollback aborts
// the rollout (traffic goes back to the stable version) and pause pauses
// it, through the Kubernetes API. The service account or kubeconfig user
// needs patch on rollouts and rollouts/status in argoproj.io.
type ArgoRolloutsConfig struct {
	// Namespace of the Rollout; a template. Empty means the kubeconfig
	// context's namespace, or in a cluster the collector's own.
	Namespace string `mapstructure:"namespace"`
	// Rollout is the Rollout's name; a template, "{service.name}" by
	// default.
	Rollout string `mapstructure:"rollout"`
	// Kubeconfig is a kubeconfig file; empty means in-cluster (the pod's
	// service account).
	Kubeconfig string `mapstructure:"kubeconfig"`
	// Context is the kubeconfig context to use (its current one when
	// empty).
	Context string `mapstructure:"context"`
}

// Validate checks the configuration.
func (c *ArgoRolloutsConfig) Validate() error {
	if strings.TrimSpace(c.Rollout) == "" {
		return errors.New("rollout: required")
	}
	if c.Context != "" && c.Kubeconfig == "" {
		return errors.New("context: needs kubeconfig (in a cluster there are no contexts)")
	}
	return nil
}

var rolloutsResource = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

type argoRollouts struct{ cfg *ArgoRolloutsConfig }

func (r *argoRollouts) Act(ctx context.Context, env Env, a Action) (string, error) {
	var patch []byte
	switch a.Decision.Action {
	case release.ActionRollback:
		patch = []byte(`{"status":{"abort":true}}`)
	case release.ActionPause:
		patch = []byte(`{"spec":{"paused":true}}`)
	default:
		return "", Permanent("argo_rollouts carries out rollback (abort) and pause, not %s", a.Decision.Action)
	}
	restCfg, defaultNS, err := r.restConfig()
	if err != nil {
		return "", Permanent("kubernetes client configuration: %v", err)
	}
	name := Expand(r.cfg.Rollout, a)
	namespace := Expand(r.cfg.Namespace, a)
	if namespace == "" {
		namespace = defaultNS
	}
	if strings.ContainsAny(name+namespace, "{}") || name == "" {
		return "", Permanent("rollout %q in namespace %q: the decision does not resolve the template", name, namespace)
	}

	// Requests go through the same recording (and, in dry run, answering
	// instead of sending) as every HTTP target, beneath client-go's own
	// authentication; the TLS transport client-go builds from the
	// kubeconfig stays the one that sends.
	dryRun := env.DryRun
	if rt, ok := httpTransport(env).(*RecordingTransport); ok {
		dryRun = dryRun || rt.DryRun
	}
	restCfg.WrapTransport = func(base http.RoundTripper) http.RoundTripper {
		return &k8sDryRunAnswer{base: &RecordingTransport{Base: base, DryRun: dryRun}, dryRun: dryRun, name: name, namespace: namespace}
	}
	if env.HTTP != nil && env.HTTP.Timeout > 0 {
		restCfg.Timeout = env.HTTP.Timeout
	}
	restCfg.UserAgent = "otelcol-release rollback exporter"
	client, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return "", Permanent("kubernetes client: %v", err)
	}
	rollouts := client.Resource(rolloutsResource).Namespace(namespace)
	what := "paused"
	if a.Decision.Action == release.ActionRollback {
		what = "aborted"
		// Abort is a status field: the status subresource takes it where
		// the CRD has one; older CRDs without it take it on the resource.
		_, err = rollouts.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
		if err == nil {
			return fmt.Sprintf("aborted Argo Rollout %s/%s (status subresource)", namespace, name), nil
		}
		if !apierrors.IsNotFound(err) {
			return "", k8sError("aborting rollout "+namespace+"/"+name, err)
		}
	}
	if _, err = rollouts.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return "", k8sError(strings.TrimSuffix(what, "ed")+"ing rollout "+namespace+"/"+name, err)
	}
	return fmt.Sprintf("%s Argo Rollout %s/%s", what, namespace, name), nil
}

func httpTransport(env Env) http.RoundTripper {
	if env.HTTP == nil {
		return nil
	}
	return env.HTTP.Transport
}

// restConfig loads the kubeconfig (or the in-cluster configuration) afresh
// for each action, so rotated credentials are picked up, and returns the
// namespace to use when the target names none.
func (r *argoRollouts) restConfig() (*rest.Config, string, error) {
	if r.cfg.Kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, "", err
		}
		ns := "default"
		if b, err := os.ReadFile(serviceAccountNamespace); err == nil && strings.TrimSpace(string(b)) != "" {
			ns = strings.TrimSpace(string(b))
		}
		return cfg, ns, nil
	}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: r.cfg.Kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: r.cfg.Context})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := loader.Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	return cfg, ns, nil
}

// k8sError classes an API error the way Do classes HTTP answers: 408, 429,
// 5xx and transport failures are transient; other refusals (403 RBAC, 404
// no such rollout, 422 invalid) are permanent and quote the answer.
func k8sError(what string, err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := int(status.Status().Code)
		if code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
			return Permanent("%s: %d %s", what, code, err.Error())
		}
		return fmt.Errorf("%s: %d %w", what, code, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// k8sDryRunAnswer stands in for the API server's answer in dry run: the
// recording transport answers "{}", and client-go wants an object back.
type k8sDryRunAnswer struct {
	base            http.RoundTripper
	dryRun          bool
	name, namespace string
}

func (t *k8sDryRunAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || !t.dryRun || req.Method == http.MethodGet || req.Method == http.MethodHead {
		return resp, err
	}
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(fmt.Sprintf(
		`{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","metadata":{"name":%q,"namespace":%q}}`, t.name, t.namespace)))
	resp.Header.Set("Content-Type", "application/json")
	return resp, nil
}
