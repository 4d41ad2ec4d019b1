package rule

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// Condition is a compiled boolean expression in the expr language
// (https://expr-lang.org/docs/language-definition) over three top-level
// names, all maps: event (the CloudEvent: type, source, id, subject, time,
// data, ...), run (the run: id, rule, key, ...) and steps (what earlier
// steps produced, by step name). Any other top-level name is a compile
// error.
//
// Member access is nil-safe: reading a member of a missing or null value
// yields nil instead of failing, so "event.data.customer.email != nil" is
// false when the event has no customer. A condition that evaluates to nil
// counts as false. A Condition is safe for concurrent use.
type Condition struct {
	src     string
	program *vm.Program
}

// Compile compiles a condition once, checking its names and that it can
// yield a boolean.
func Compile(src string) (*Condition, error) {
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("empty condition")
	}
	env := map[string]any{
		"event": map[string]any{},
		"run":   map[string]any{},
		"steps": map[string]any{},
	}
	program, err := expr.Compile(src, expr.Env(env), expr.AsBool(), expr.Patch(nilSafe{}))
	if err != nil {
		return nil, fmt.Errorf("bad condition: %s", firstLine(err.Error()))
	}
	return &Condition{src: src, program: program}, nil
}

// Eval evaluates the condition against env, which should hold the maps
// "event", "run" and "steps" (a missing one reads as nil). Runtime errors
// (comparing nil with a number, a function given the wrong type) are
// returned, never panicked.
func (c *Condition) Eval(env map[string]any) (bool, error) {
	out, err := expr.Run(c.program, env)
	if err != nil {
		return false, fmt.Errorf("condition %q: %s", c.src, firstLine(err.Error()))
	}
	switch v := out.(type) {
	case bool:
		return v, nil
	case nil:
		return false, nil
	default:
		return false, fmt.Errorf("condition %q: result is %T, not a bool", c.src, out)
	}
}

// String returns the condition's source text.
func (c *Condition) String() string { return c.src }

// firstLine drops the source excerpt expr appends to its messages: the
// callers already say which condition failed.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// nilSafe turns every member access into its nil-safe form: "a.b.c"
// compiles as "a?.b?.c". The engine feeds conditions JSON decoded into
// maps, where absent fields are the normal case, and failing the whole
// rule on "cannot fetch email from <nil>" would surprise everyone.
type nilSafe struct{}

// Visit implements ast.Visitor. Walk visits children first, so inner
// accesses are already wrapped when their parent is visited; nested chains
// are harmless.
func (nilSafe) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || m.Method {
		return
	}
	m.Optional = true
	ast.Patch(node, &ast.ChainNode{Node: m})
}
