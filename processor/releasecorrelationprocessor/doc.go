// Package releasecorrelationprocessor stamps release identity onto every
// resource of traces, metrics and logs, from the release state held by the
// releasestore extension.
package releasecorrelationprocessor // import "github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor"
