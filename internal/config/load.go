package config

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Options are what Load needs from its caller.
type Options struct {
	// ChannelTypes are the provider types by name ("email", "webhook",
	// ...), passed in by the composition root.
	ChannelTypes map[string]ChannelType
	// LookupEnv resolves ${env:NAME}; default os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ReadFile reads ${file:PATH}; default os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

// Load loads the configuration at path: one YAML file, or a folder whose
// *.yaml and *.yml files (not in subfolders, not hidden) are loaded in
// name order as one configuration. On failure the error is Errors, with
// every mistake found.
func Load(path string, opts Options) (*Config, error) {
	srcs, err := readSources(path)
	if err != nil {
		return nil, Errors{{Pos: Pos{File: path}, Message: err.Error()}}
	}
	return LoadSources(srcs, opts)
}

func readSources(path string) ([]Source, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read configuration: %w", unwrapPathError(err))
	}
	if !info.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("cannot read configuration: %w", unwrapPathError(err))
		}
		return []Source{{Path: path, Data: data}}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read configuration folder: %w", unwrapPathError(err))
	}
	var srcs []Source
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		if e.IsDir() || strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		p := filepath.Join(path, name)
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("cannot read configuration: %w", unwrapPathError(err))
		}
		srcs = append(srcs, Source{Path: p, Data: data})
	}
	if len(srcs) == 0 {
		return nil, errors.New("the folder has no .yaml or .yml files")
	}
	return srcs, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// LoadSources loads a configuration from its files' contents, e.g. a
// version stored in the database. Sources are taken in order of their
// base names, as Load takes a folder's files. On failure the error is
// Errors, with every mistake found.
func LoadSources(srcs []Source, opts Options) (*Config, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	if len(srcs) == 0 {
		return nil, Errors{{Message: "no configuration files"}}
	}
	srcs = slices.Clone(srcs)
	slices.SortStableFunc(srcs, func(a, b Source) int {
		return cmp.Or(cmp.Compare(filepath.Base(a.Path), filepath.Base(b.Path)), cmp.Compare(a.Path, b.Path))
	})
	l := newLoader(opts)
	l.cfg.Sources = srcs
	l.cfg.Version = version(srcs)
	for _, src := range srcs {
		l.loadFile(src)
	}
	l.finish()
	if len(l.errs) > 0 {
		sortErrors(l.errs)
		return nil, l.errs
	}
	return l.cfg, nil
}

// version hashes the sources' base names and raw bytes, so that moving
// the folder does not change the version but editing any file does.
func version(srcs []Source) string {
	h := sha256.New()
	for _, src := range srcs {
		name := filepath.Base(src.Path)
		// Length prefixes keep ("ab", "c") and ("a", "bc") apart.
		fmt.Fprintf(h, "%d:%s%d:", len(name), name, len(src.Data))
		h.Write(src.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// loader accumulates one configuration from its files.
type loader struct {
	opts Options
	cfg  *Config
	errs Errors
	// sections records where each single-file section was declared.
	sections map[string]Pos
	// rules records where each rule name was first declared.
	rules map[string]Pos
	// refs are channel and template references, checked once every file
	// has been read.
	refs []ref
}

func newLoader(opts Options) *loader {
	cfg := &Config{
		Channels:  map[string]*Channel{},
		Templates: map[string]*Template{},
	}
	setDefaults(cfg)
	return &loader{opts: opts, cfg: cfg, sections: map[string]Pos{}, rules: map[string]Pos{}}
}

func (l *loader) add(pos Pos, field, msg string) {
	l.errs = append(l.errs, &FieldError{Pos: pos, Field: field, Message: msg})
}

func (l *loader) loadFile(src Source) {
	f := &file{l: l, path: src.Path, dir: filepath.Dir(src.Path), data: src.Data, anchors: map[string]ast.Node{}, aliases: maxAliases, expanding: map[string]bool{}}
	doc, ok := f.parse(src.Data)
	if !ok || doc == nil {
		return
	}
	f.prepare(doc, 0)
	m := f.mapping(doc, "")
	if m == nil {
		return
	}
	for _, name := range []string{"server", "storage", "delivery", "retention", "network"} {
		e, ok := m.get(name)
		if !ok {
			continue
		}
		pos := f.pos(e.keyNode)
		if first, dup := l.sections[name]; dup {
			f.errorf(e.keyNode, name, "already declared at %s; each of server, storage, delivery, retention and network may appear in only one file", first)
			continue
		}
		l.sections[name] = pos
		switch name {
		case "server":
			f.server(e)
		case "storage":
			f.storage(e)
		case "delivery":
			f.delivery(e)
		case "retention":
			f.retention(e)
		case "network":
			f.network(e)
		}
	}
	if e, ok := m.get("channels"); ok {
		f.channels(e)
	}
	if e, ok := m.get("templates"); ok {
		f.templates(e)
	}
	if e, ok := m.get("rules"); ok {
		f.rules(e)
	}
	f.sources(m)
	m.finish(append([]string{"server", "storage", "delivery", "retention", "network", "channels", "templates", "rules"}, sourceKeys()...)...)
}

// parse parses data into the body of its single document; nil for an
// empty file.
func (f *file) parse(data []byte) (body ast.Node, ok bool) {
	defer func() {
		// The YAML library is fuzzed but not by us; a panic on odd
		// input must become an error, not take the server down.
		if r := recover(); r != nil {
			f.l.add(Pos{File: f.path}, "", fmt.Sprintf("cannot parse YAML: %v", r))
			body, ok = nil, false
		}
	}()
	parsed, err := parser.ParseBytes(data, 0)
	if err != nil {
		f.yamlError(err, "")
		return nil, false
	}
	var docs []*ast.DocumentNode
	for _, d := range parsed.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, true
	}
	if len(docs) > 1 {
		f.errorf(docs[1].Body, "", "a file holds one YAML document; put each document (after ---) in its own file")
		return nil, false
	}
	return docs[0].Body, true
}

// yamlError reports an error from the YAML library at its token.
func (f *file) yamlError(err error, field string) {
	var yerr yaml.Error
	if !errors.As(err, &yerr) {
		f.l.add(Pos{File: f.path}, field, err.Error())
		return
	}
	pos := Pos{File: f.path}
	if tk := yerr.GetToken(); tk != nil && tk.Position != nil {
		pos.Line, pos.Col = tk.Position.Line, tk.Position.Column
	}
	// The library writes positions as [line:col].
	msg := yamlPosRE.ReplaceAllString(yerr.GetMessage(), "line $1")
	var terr *yaml.TypeError
	if errors.As(err, &terr) && terr.DstType != nil && terr.SrcType != nil {
		msg = fmt.Sprintf("want %s, got %s", typeName(terr.DstType.Kind().String()), typeName(terr.SrcType.Kind().String()))
	}
	f.l.add(pos, field, msg)
}

var yamlPosRE = regexp.MustCompile(`\[(\d+):\d+\]`)

func typeName(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "bool":
		return "true or false"
	case kind == "string":
		return "a string"
	case kind == "slice", kind == "array":
		return "a list"
	case kind == "map", kind == "struct":
		return "a mapping"
	}
	return kind
}

// suggest formats the known names for "unknown X" messages.
func suggest(what string, names []string) string {
	if len(names) == 0 {
		return "no " + what + " are declared"
	}
	slices.Sort(names)
	return what + ": " + strings.Join(names, ", ")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }
