// Package rollbackexporter carries release decisions out on CD,
// feature-flag, chat and paging systems, safely: at most one action per
// decision and target (and per release, action and target) across retries,
// restarts and duplicates, dry run, human approval where asked, a brake on
// runaway automation, and an audit record of every outcome.
package rollbackexporter // import "github.com/otelcol-release/otelcol-release/exporter/rollbackexporter"
