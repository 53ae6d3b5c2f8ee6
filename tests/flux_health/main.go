// Command flux-health evaluates Flux healthCheckExprs (CEL) against objects the way
// Flux's kustomize-controller does (fluxcd/pkg/runtime/cel, RFC 0009): the same cel-go
// environment options, the expressions parsed (not compiled) and evaluated with the
// object's top-level fields as variables; a status.observedGeneration different from
// metadata.generation is InProgress before any expression; then InProgress, Failed,
// Current in that order; none true: InProgress. Used by tests/integration/test_flux_health.py.
//
// Usage: flux-health EXPRS.json < objects.jsonl > results.jsonl, EXPRS.json holding
// {"current": ..., "failed": ..., "inProgress": ...}; each result is {"status": ...}
// (Current, Failed, InProgress) or {"error": ...}.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

type exprs struct {
	Current    string `json:"current"`
	Failed     string `json:"failed"`
	InProgress string `json:"inProgress"`
}

func program(expr string) (cel.Program, error) {
	env, err := cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Sets(),
		ext.Encoders(),
	)
	if err != nil {
		return nil, err
	}
	ast, issues := env.Parse(expr)
	if issues != nil && issues.Err() != nil {
		return nil, fmt.Errorf("parse %q: %w", expr, issues.Err())
	}
	return env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(100))
}

// unstructured turns json.Number into int64 (or float64), as Kubernetes' unstructured
// decoding does.
func unstructured(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		for k, item := range x {
			x[k] = unstructured(item)
		}
		return x
	case []interface{}:
		for i, item := range x {
			x[i] = unstructured(item)
		}
		return x
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	default:
		return x
	}
}

func evaluate(progs [3]cel.Program, obj map[string]interface{}) map[string]string {
	if status, ok := obj["status"].(map[string]interface{}); ok {
		observed, found := status["observedGeneration"].(int64)
		meta, _ := obj["metadata"].(map[string]interface{})
		generation, known := meta["generation"].(int64)
		if found && known && observed != generation {
			return map[string]string{"status": "InProgress"}
		}
	}
	for i, result := range []string{"InProgress", "Failed", "Current"} {
		if progs[i] == nil {
			continue
		}
		val, _, err := progs[i].Eval(obj)
		if err != nil {
			return map[string]string{"error": err.Error()}
		}
		b, ok := val.(types.Bool)
		if !ok {
			return map[string]string{"error": fmt.Sprintf("not a boolean: %v", val)}
		}
		if b {
			return map[string]string{"status": result}
		}
	}
	return map[string]string{"status": "InProgress"}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}

func main() {
	if len(os.Args) != 2 {
		fail(fmt.Errorf("usage: flux-health EXPRS.json < objects.jsonl"))
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	var e exprs
	if err := json.Unmarshal(raw, &e); err != nil {
		fail(err)
	}
	var progs [3]cel.Program
	for i, text := range []string{e.InProgress, e.Failed, e.Current} {
		if text == "" {
			continue
		}
		if progs[i], err = program(text); err != nil {
			fail(err)
		}
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		dec := json.NewDecoder(bytes.NewReader(in.Bytes()))
		dec.UseNumber()
		var obj map[string]interface{}
		if err := dec.Decode(&obj); err != nil {
			fail(err)
		}
		if err := out.Encode(evaluate(progs, unstructured(obj).(map[string]interface{}))); err != nil {
			fail(err)
		}
	}
	if err := in.Err(); err != nil {
		fail(err)
	}
}
