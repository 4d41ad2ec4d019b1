package render

import (
	"errors"
	"fmt"
	htemplate "html/template"
	"io"
	"reflect"
	"strings"
	ttemplate "text/template"
)

// MaxOutput is the most bytes one execution may produce; a template that
// writes more fails instead of exhausting memory.
const MaxOutput = 4 << 20

// Template is a parsed template, safe for concurrent use.
type Template struct {
	name string
	src  string
	// Exactly one of text and html is set.
	text *ttemplate.Template
	html *htemplate.Template
	// htmlBase is the HTML template before its first execution:
	// html/template cannot clone a template that has run, and
	// ExecuteFuncs needs a clone to swap functions.
	htmlBase *htemplate.Template
	// used holds the names of the functions the template calls, so that
	// ExecuteFuncs clones only when an override matters.
	used map[string]bool
}

// New parses a text template (text/template).
func New(name, text string) (*Template, error) {
	t, err := ttemplate.New(name).Option("missingkey=error").Funcs(funcs()).Parse(text)
	if err != nil {
		return nil, newError(name, err)
	}
	used, calls := map[string]bool{}, map[string][]string{}
	for _, tt := range t.Templates() {
		calls[tt.Name()] = rewrite(tt.Tree, used)
	}
	if err := checkRecursion(calls); err != nil {
		return nil, &Error{Template: name, Message: err.Error(), Err: err}
	}
	return &Template{name: name, src: text, text: t, used: used}, nil
}

// NewHTML parses an HTML template (html/template): values are escaped for
// the context they appear in. Escaping problems (an unclosed attribute, a
// value in an unsafe place) are reported here rather than at the first
// execution.
func NewHTML(name, text string) (*Template, error) {
	base, err := htemplate.New(name).Option("missingkey=error").Funcs(funcs()).Parse(text)
	if err != nil {
		return nil, newError(name, err)
	}
	used, calls := map[string]bool{}, map[string][]string{}
	for _, tt := range base.Templates() {
		calls[tt.Name()] = rewrite(tt.Tree, used)
	}
	if err := checkRecursion(calls); err != nil {
		return nil, &Error{Template: name, Message: err.Error(), Err: err}
	}
	t, err := base.Clone()
	if err != nil {
		return nil, newError(name, err)
	}
	// html/template escapes on the first execution. Run it once without
	// data so escaping errors surface now; the execution errors that nil
	// data causes are expected and ignored.
	var herr *htemplate.Error
	if err := t.Execute(io.Discard, nil); errors.As(err, &herr) {
		return nil, newError(name, err)
	}
	return &Template{name: name, src: text, html: t, htmlBase: base, used: used}, nil
}

// Name returns the template's name, used in its errors.
func (t *Template) Name() string { return t.name }

// Source returns the template's text.
func (t *Template) Source() string { return t.src }

// Execute renders the template with data.
func (t *Template) Execute(data any) (string, error) {
	return t.ExecuteFuncs(data, nil)
}

// ExecuteFuncs renders the template with data, using funcs for this
// execution only in place of functions of the same names from the
// package's set (see the package documentation); ackURL is the one meant
// for this. Each value must be a function returning one value, or a value
// and an error. Other executions, concurrent or later, are not affected.
func (t *Template) ExecuteFuncs(data any, funcs map[string]any) (string, error) {
	override := false
	for name, fn := range funcs {
		if err := checkOverride(name, fn); err != nil {
			return "", &Error{Template: t.name, Message: err.Error(), Err: err}
		}
		override = override || t.used[name]
	}
	w := &limitedBuilder{}
	var err error
	switch {
	case t.text != nil && override:
		var c *ttemplate.Template
		c, err = t.text.Clone()
		if err == nil {
			err = c.Funcs(funcs).Execute(w, data)
		}
	case t.text != nil:
		err = t.text.Execute(w, data)
	case override:
		var c *htemplate.Template
		c, err = t.htmlBase.Clone()
		if err == nil {
			err = c.Funcs(funcs).Execute(w, data)
		}
	default:
		err = t.html.Execute(w, data)
	}
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return "", &Error{Template: t.name, Message: errTooLarge.Error(), Err: err}
		}
		return "", newError(t.name, err)
	}
	return w.String(), nil
}

// checkOverride refuses what Funcs would panic on or silently ignore.
func checkOverride(name string, fn any) error {
	if _, ok := funcs()[name]; !ok {
		return fmt.Errorf("function %q cannot be replaced: it is not one of the template functions", name)
	}
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return fmt.Errorf("function %q: replacement is a %T, not a function", name, fn)
	}
	typ := v.Type()
	switch {
	case typ.NumOut() == 1:
	case typ.NumOut() == 2 && typ.Out(1) == reflect.TypeFor[error]():
	default:
		return fmt.Errorf("function %q: replacement must return one value, or a value and an error", name)
	}
	return nil
}

var errTooLarge = fmt.Errorf("output exceeds %d bytes", MaxOutput)

// limitedBuilder is a strings.Builder that refuses to grow past
// MaxOutput; text/template stops at the first failed write.
type limitedBuilder struct{ strings.Builder }

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxOutput {
		return 0, errTooLarge
	}
	return b.Builder.Write(p)
}
