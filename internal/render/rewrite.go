package render

import (
	"fmt"
	"slices"
	"strings"
	"text/template/parse"
)

// Helper functions the package inserts into every template's parse tree.
const (
	// printFunc ends every printing action: {{ .x }} runs as
	// {{ .x | _print }}, so nil prints "" instead of "<no value>".
	printFunc = "_print"
	// rangeFunc ends every range pipeline, to refuse huge integer ranges.
	rangeFunc = "_range"
)

// rewrite inserts the helpers into tree, adds the names of the functions
// it calls to used, and returns the names of the templates it invokes.
func rewrite(tree *parse.Tree, used map[string]bool) (calls []string) {
	if tree == nil || tree.Root == nil {
		return nil
	}
	walk(tree.Root, func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ActionNode:
			// Declarations and assignments print nothing.
			if len(n.Pipe.Decl) == 0 {
				appendCommand(tree, n.Pipe, printFunc)
			}
		case *parse.RangeNode:
			appendCommand(tree, n.Pipe, rangeFunc)
		case *parse.IdentifierNode:
			used[n.Ident] = true
		case *parse.TemplateNode:
			calls = append(calls, n.Name)
		}
	})
	return calls
}

// checkRecursion refuses templates that invoke themselves, directly or
// through others: text/template would recurse 100,000 levels deep before
// giving up, and a message template has no use for recursion.
func checkRecursion(calls map[string][]string) error {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case visiting:
			return fmt.Errorf("template %q invokes itself (%s); recursion is not allowed", name, strings.Join(append(path, name), " → "))
		case done:
			return nil
		}
		state[name] = visiting
		for _, c := range calls[name] {
			if err := visit(c, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = done
		return nil
	}
	names := make([]string, 0, len(calls))
	for name := range calls {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := visit(name, nil); err != nil {
			return err
		}
	}
	return nil
}

func appendCommand(tree *parse.Tree, pipe *parse.PipeNode, fn string) {
	ident := parse.NewIdentifier(fn).SetTree(tree).SetPos(pipe.Pos)
	pipe.Cmds = append(pipe.Cmds, &parse.CommandNode{
		NodeType: parse.NodeCommand,
		Pos:      pipe.Pos,
		Args:     []parse.Node{ident},
	})
}

// walk calls fn for n and every node below it, parents first.
func walk(n parse.Node, fn func(parse.Node)) {
	if n == nil {
		return
	}
	fn(n)
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walk(c, fn)
		}
	case *parse.ActionNode:
		walkPipe(n.Pipe, fn)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.TemplateNode:
		walkPipe(n.Pipe, fn)
	case *parse.PipeNode:
		walkPipe(n, fn)
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, fn)
		}
	case *parse.ChainNode:
		walk(n.Node, fn)
	}
}

func walkBranch(b *parse.BranchNode, fn func(parse.Node)) {
	walkPipe(b.Pipe, fn)
	if b.List != nil {
		walk(b.List, fn)
	}
	if b.ElseList != nil {
		walk(b.ElseList, fn)
	}
}

func walkPipe(p *parse.PipeNode, fn func(parse.Node)) {
	if p == nil {
		return
	}
	for _, c := range p.Cmds {
		walk(c, fn)
	}
}
