package release

import (
	"fmt"
	"strings"
)

// Signal names: what a decision's evidence and a release's evaluation
// series call the quantities compared between a candidate and its
// control. The processor names them, the store's page and the chat
// targets read them back, so they are spelled here only.
const (
	// SignalErrorRate is the share of failed requests.
	SignalErrorRate = "error_rate"
	// SignalLogErrorRate is the share of log records of severity ERROR or
	// worse.
	SignalLogErrorRate = "log_error_rate"

	signalLatencyPrefix = "latency_"
	signalKPIPrefix     = "kpi:"
)

// LatencySignal names the share of requests slower than the control's
// quantile q ("latency_p95" for 0.95).
func LatencySignal(q float64) string { return fmt.Sprintf("%sp%g", signalLatencyPrefix, q*100) }

// LatencyQuantile returns the quantile of a latency signal as written in
// its name ("p95"), and whether the signal is one.
func LatencyQuantile(signal string) (string, bool) {
	return strings.CutPrefix(signal, signalLatencyPrefix)
}

// KPISignal names a configured KPI's signal ("kpi:<name>").
func KPISignal(name string) string { return signalKPIPrefix + name }

// KPIName returns the KPI a signal measures, and whether it is a KPI's.
// KPIs are values per request; every other signal is a share of requests
// or records.
func KPIName(signal string) (string, bool) { return strings.CutPrefix(signal, signalKPIPrefix) }
