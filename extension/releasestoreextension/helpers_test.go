package releasestoreextension

import (
	"github.com/otelcol-release/otelcol-release/internal/testhost"

	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

var (
	t0          = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	storageID   = component.MustNewID("file_storage")
	checkoutKey = release.ServiceKey{Namespace: "shop", Name: "checkout", Environment: "production"}
)

func newHost(exts map[component.ID]component.Component) *testhost.Host { return testhost.New(exts) }

func freeEndpoint(t testing.TB) string { return testhost.FreeEndpoint(t) }

// spyStorage wraps a storage extension and keeps the clients it hands out,
// so that a test can pull storage away from under a store (a crash).
type spyStorage struct {
	storage.Extension
	mu      sync.Mutex
	clients []storage.Client
}

func (s *spyStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := s.Extension.GetClient(ctx, kind, id, name)
	if err == nil {
		s.mu.Lock()
		s.clients = append(s.clients, c)
		s.mu.Unlock()
	}
	return c, err
}

func (s *spyStorage) lastClient(t testing.TB) storage.Client {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(t, s.clients, "no storage client was handed out")
	return s.clients[len(s.clients)-1]
}

// newFileStorage starts a real file_storage extension on dir.
func newFileStorage(t testing.TB, dir string) *spyStorage {
	t.Helper()
	return newFileStorageWith(t, dir, nil)
}

// newFileStorageWith starts a file_storage extension on dir with a
// configuration changed by mutate.
func newFileStorageWith(t testing.TB, dir string, mutate func(*filestorage.Config)) *spyStorage {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	cfg.Compaction.Directory = dir
	if mutate != nil {
		mutate(cfg)
	}
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { assert.NoError(t, ext.Shutdown(context.Background())) })
	return &spyStorage{Extension: ext.(storage.Extension)}
}

// failingClient is storage whose writes fail while fail is set.
type failingClient struct {
	mu   sync.Mutex
	data map[string][]byte
	fail bool
}

var errDiskFull = errors.New("disk full")

func (c *failingClient) setFail(v bool) {
	c.mu.Lock()
	c.fail = v
	c.mu.Unlock()
}

func (c *failingClient) Get(_ context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data[key], nil
}

func (c *failingClient) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *failingClient) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

func (c *failingClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return errDiskFull
	}
	for _, op := range ops {
		switch op.Type {
		case storage.Set:
			c.data[op.Key] = op.Value
		case storage.Delete:
			delete(c.data, op.Key)
		case storage.Get:
			op.Value = c.data[op.Key]
		}
	}
	return nil
}

func (*failingClient) Close(context.Context) error { return nil }

// fakeStorage is a storage extension handing out one client.
type fakeStorage struct {
	component.StartFunc
	component.ShutdownFunc
	client storage.Client
}

func (f *fakeStorage) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return f.client, nil
}

// env is what a test store runs with.
type env struct {
	host *testhost.Host
	tel  *componenttest.Telemetry
	// logger defaults to a nop logger.
	logger *zap.Logger
	cfg    func(*Config)
}

// start creates the store through its factory, as the collector does, and
// starts it. It is shut down at the end of the test unless the test did.
func (e env) start(t testing.TB) *releaseStore {
	t.Helper()
	s, err := e.create(t)
	require.NoError(t, err)
	host := e.host
	if host == nil {
		host = newHost(nil)
	}
	require.NoError(t, s.Start(context.Background(), host))
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

func (e env) create(t testing.TB) (*releaseStore, error) {
	t.Helper()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = freeEndpoint(t)
	if e.cfg != nil {
		e.cfg(cfg)
	}
	set := extensiontest.NewNopSettings(Type)
	// A stable id: file_storage names its file after it.
	set.ID = component.NewID(Type)
	if e.tel != nil {
		set.TelemetrySettings = e.tel.NewTelemetrySettings()
	}
	set.Logger = zap.NewNop()
	if e.logger != nil {
		set.Logger = e.logger
	}
	return e.createWith(f, set, cfg)
}

func (env) createWith(f extension.Factory, set extension.Settings, cfg *Config) (*releaseStore, error) {
	ext, err := f.Create(context.Background(), set, cfg)
	if err != nil {
		return nil, err
	}
	return ext.(*releaseStore), nil
}

// withStorage returns an env persisting through the given storage.
func withStorage(st extension.Extension) env {
	return env{
		host: newHost(map[component.ID]component.Component{storageID: st}),
		cfg:  func(c *Config) { c.Storage = &storageID },
	}
}

// event builds a normalised native event of checkout in production; at is
// the offset of its time and receive time from t0.
func event(id string, typ release.EventType, version string, at time.Duration, opts ...func(*release.Event)) release.Event {
	e := release.Event{
		ID: id, Type: typ, Time: t0.Add(at), ReceivedAt: t0.Add(at), Source: "native",
		Attributes: map[string]string{
			release.AttrServiceName:           checkoutKey.Name,
			release.AttrServiceNamespace:      checkoutKey.Namespace,
			release.AttrServiceVersion:        version,
			release.AttrDeploymentEnvironment: checkoutKey.Environment,
		},
	}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func withService(name string) func(*release.Event) {
	return func(e *release.Event) { e.Attributes[release.AttrServiceName] = name }
}

func withEnv(env string) func(*release.Event) {
	return func(e *release.Event) { e.Attributes[release.AttrDeploymentEnvironment] = env }
}

func withSource(src string) func(*release.Event) {
	return func(e *release.Event) { e.Source = src }
}

func withPercent(p float64) func(*release.Event) {
	return func(e *release.Event) { e.Release.RolloutPercentage = &p }
}

func withScope(k, v string) func(*release.Event) {
	return func(e *release.Event) { e.Release.Scope = map[string]string{k: v} }
}

func serviceKey(name string) release.ServiceKey {
	return release.ServiceKey{Namespace: "shop", Name: name, Environment: "production"}
}

func record(t testing.TB, s Store, events ...release.Event) []Outcome {
	t.Helper()
	out, err := s.Record(context.Background(), events)
	require.NoError(t, err)
	require.Len(t, out, len(events))
	return out
}

func testDecision(id, releaseID string) *release.Decision {
	return &release.Decision{
		DecisionID: id, Action: release.ActionRollback, Verdict: release.VerdictRegression,
		Cause: release.CauseEndogenous, Confidence: 0.995, DryRun: true, DecidedAt: t0.Add(time.Hour),
		Release: map[string]string{
			release.AttrDeploymentID: releaseID, release.AttrServiceName: "checkout",
			release.AttrDeploymentEnvironment: "production", release.AttrServiceVersion: "v2",
			"previous_version": "v1",
		},
		Evidence: []release.Evidence{{
			Signal: "error_rate", Control: 0.011, Candidate: 0.052, Effect: 4.7, Confidence: 0.995,
			Samples:   release.Samples{Control: 18211, Candidate: 2013},
			Window:    release.Window{Start: t0, End: t0.Add(40 * time.Second)},
			Exemplars: []string{"4bf92f3577b34da6a3ce929d0e0e4736"},
		}},
		Rationale: "checkout v2 fails 5.2% of requests vs 1.1% for v1",
	}
}

func annotation(releaseID, label, text string) release.Annotation {
	return release.Annotation{ID: "ann-" + label, ReleaseID: releaseID, Label: label, Text: text, CreatedAt: t0.Add(2 * time.Hour)}
}

// pointValue returns the value of an int64 sum or gauge data point with exactly
// the given attributes; ok is false when there is none.
func pointValue(t testing.TB, tel *componenttest.Telemetry, name string, attrs ...attribute.KeyValue) (int64, bool) {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0, false
	}
	want := attribute.NewSet(attrs...)
	var points []metricdata.DataPoint[int64]
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		points = d.DataPoints
	case metricdata.Gauge[int64]:
		points = d.DataPoints
	default:
		t.Fatalf("metric %s has data %T", name, m.Data)
	}
	for _, p := range points {
		if p.Attributes.Equals(&want) {
			return p.Value, true
		}
	}
	return 0, false
}

func metricValue(t testing.TB, tel *componenttest.Telemetry, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	v, ok := pointValue(t, tel, name, attrs...)
	require.True(t, ok, "no data point of %s with %v", name, attrs)
	return v
}
