// Package releasemetadatareceiver ingests deploy events from CI/CD systems
// (native JSON, CDEvents, GitHub, GitLab, Argo CD, Flux), validates them,
// records them in the release store and emits them as log records. It also
// emits the store's annotations and decisions as log records.
package releasemetadatareceiver // import "github.com/otelcol-release/otelcol-release/receiver/releasemetadatareceiver"
