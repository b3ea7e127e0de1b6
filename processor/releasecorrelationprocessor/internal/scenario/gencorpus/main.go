// Command gencorpus writes the labelled scenario corpus,
// processor/releasecorrelationprocessor/testdata/scenarios/corpus.jsonl.
// `make generate` runs it; TestScenarioCorpusIsCurrent fails when the
// committed corpus differs from what the generator makes.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/otelcol-release/otelcol-release/processor/releasecorrelationprocessor/internal/scenario"
)

func main() {
	out := flag.String("out", "processor/releasecorrelationprocessor/testdata/scenarios/corpus.jsonl", "corpus file to write")
	flag.Parse()
	data, err := scenario.Encode(scenario.Generate())
	if err == nil {
		err = os.WriteFile(*out, data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
}
