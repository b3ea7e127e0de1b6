// Package releasestoreextension holds release state for the distribution:
// release histories per service, environment and scope, decisions and
// annotations. It persists them through any collector storage extension,
// offers lock-free lookups to the correlation processor, notifies
// subscribers of changes, and serves an HTTP API.
package releasestoreextension // import "github.com/otelcol-release/otelcol-release/extension/releasestoreextension"
