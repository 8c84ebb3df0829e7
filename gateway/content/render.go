package content

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/abusegw/abusegw/mappings/templates"
)

// DefaultMaxIPs is the number of addresses listed in a message when
// Options.MaxIPs is zero.
const DefaultMaxIPs = 50

// Fallback is the language used when a customer's has no template set.
const Fallback = "en"

// Template files every language set has.
const (
	FileSubject  = "subject.tmpl"
	FileBody     = "body.tmpl"
	FileUpdate   = "update.tmpl"
	FileReopen   = "reopen.tmpl"
	FileInternal = "internal.tmpl"
	FilePrevious = "previous.tmpl"
)

// requiredFiles are the templates a language set must have.
var requiredFiles = []string{FileSubject, FileBody, FileUpdate, FileReopen, FileInternal, FilePrevious}

// Options configure a Renderer.
type Options struct {
	// Dir overrides the embedded files: <Dir>/<lang>/*.tmpl and
	// <Dir>/advice/<lang>.yaml replace the embedded file of the same name,
	// and a new <lang> directory adds a language (it must then be complete).
	// "" uses the embedded files only.
	Dir string
	// Now is the clock (time.Now when nil); templates see it as .Now.
	Now func() time.Time
	// MaxIPs caps the addresses listed in a message ("and N more");
	// 0 means DefaultMaxIPs, a negative value lists all.
	MaxIPs int
}

// Renderer renders messages. It is read-only after New and safe for
// concurrent use.
type Renderer struct {
	now    func() time.Time
	maxIPs int
	sets   map[string]*langSet
}

// langSet is one language's templates and advice.
type langSet struct {
	lang    string
	tmpl    *template.Template
	advice  *adviceSet
	origins map[string]string // template name → file it came from
}

// source is a file's content and where it came from.
type source struct {
	data   []byte
	origin string
}

// New loads the embedded templates and advice, with Options.Dir's files on
// top, parses them and executes every template against a fully populated
// and an almost empty Case of every Kind, so that a template that does not
// parse or refers to a field that does not exist is an error here, naming
// its file, rather than at the first ticket.
func New(opts Options) (*Renderer, error) {
	r := &Renderer{now: opts.Now, maxIPs: opts.MaxIPs, sets: map[string]*langSet{}}
	if r.now == nil {
		r.now = time.Now
	}
	if r.maxIPs == 0 {
		r.maxIPs = DefaultMaxIPs
	}
	layers := []layer{{fsys: templates.FS(), prefix: "embedded:"}}
	if opts.Dir != "" {
		st, err := os.Stat(opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("content: template directory: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("content: template directory %s: not a directory", opts.Dir)
		}
		layers = append(layers, layer{fsys: os.DirFS(opts.Dir), prefix: opts.Dir + string(filepath.Separator)})
	}
	langs, err := languages(layers)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, lang := range langs {
		set, err := loadSet(lang, layers)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.sets[lang] = set
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if r.sets[Fallback] == nil {
		return nil, fmt.Errorf("content: no %q template set", Fallback)
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// layer is one source of files: the embedded ones or the override directory.
type layer struct {
	fsys   fs.FS
	prefix string // shown before a file's path in errors
}

// languages lists the directories holding templates in any layer.
func languages(layers []layer) ([]string, error) {
	var langs []string
	for _, l := range layers {
		entries, err := fs.ReadDir(l.fsys, ".")
		if err != nil {
			return nil, fmt.Errorf("content: reading %s: %w", l.prefix, err)
		}
		for _, e := range entries {
			if !e.IsDir() || e.Name() == "advice" || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			tmpls, err := fs.Glob(l.fsys, e.Name()+"/*.tmpl")
			if err != nil {
				return nil, fmt.Errorf("content: reading %s%s: %w", l.prefix, e.Name(), err)
			}
			if len(tmpls) > 0 && !slices.Contains(langs, e.Name()) {
				langs = append(langs, e.Name())
			}
		}
	}
	slices.Sort(langs)
	return langs, nil
}

// loadSet reads, overlays and parses one language's files.
func loadSet(lang string, layers []layer) (*langSet, error) {
	files := map[string]source{}
	var advice source
	for _, l := range layers {
		names, err := fs.Glob(l.fsys, lang+"/*.tmpl")
		if err != nil {
			return nil, fmt.Errorf("content: reading %s%s: %w", l.prefix, lang, err)
		}
		for _, n := range names {
			data, err := fs.ReadFile(l.fsys, n)
			if err != nil {
				return nil, fmt.Errorf("content: %w", err)
			}
			files[path.Base(n)] = source{data: data, origin: l.prefix + filepath.FromSlash(n)}
		}
		an := "advice/" + lang + ".yaml"
		data, err := fs.ReadFile(l.fsys, an)
		switch {
		case err == nil:
			advice = source{data: data, origin: l.prefix + filepath.FromSlash(an)}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("content: %w", err)
		}
	}
	var errs []error
	for _, f := range requiredFiles {
		if _, ok := files[f]; !ok {
			errs = append(errs, fmt.Errorf("content: language %q has no %s", lang, f))
		}
	}
	if advice.data == nil {
		errs = append(errs, fmt.Errorf("content: language %q has no advice/%s.yaml", lang, lang))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	set := &langSet{lang: lang, origins: map[string]string{}}
	set.tmpl = template.New(lang).Option("missingkey=error").Funcs(funcs)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		src := files[name]
		set.origins[name] = src.origin
		if _, err := set.tmpl.New(name).Parse(string(src.data)); err != nil {
			errs = append(errs, fmt.Errorf("content: %s: %w", src.origin, err))
		}
	}
	a, err := parseAdvice(advice.origin, advice.data)
	if err != nil {
		errs = append(errs, fmt.Errorf("content: %w", err))
	}
	set.advice = a
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return set, nil
}

// validate renders every kind in every language for the sample cases.
func (r *Renderer) validate() error {
	var errs []error
	for _, lang := range slices.Sorted(maps.Keys(r.sets)) {
		set := r.sets[lang]
		for _, c := range []Case{SampleCase(r.now()), {}} {
			for _, notify := range []bool{true, false} {
				c.Notify = notify
				for _, k := range Kinds() {
					if _, err := r.render(set, k, c); err != nil {
						errs = append(errs, err)
					}
				}
			}
		}
		if len(errs) > 0 {
			break // one language's errors are enough to read
		}
	}
	return errors.Join(errs...)
}

// Languages lists the languages with a template set, sorted.
func (r *Renderer) Languages() []string { return slices.Sorted(maps.Keys(r.sets)) }

// Advice returns the advice for a classification in a language (with the
// same fallback as Render).
func (r *Renderer) Advice(language string, c Classification) Advice {
	return r.set(language).advice.lookup(c)
}

// set returns the template set of a language tag, or the fallback's.
func (r *Renderer) set(language string) *langSet {
	if s, ok := r.sets[Language(language)]; ok {
		return s
	}
	return r.sets[Fallback]
}

// Render renders the message of a kind for a case, in the customer's
// language.
func (r *Renderer) Render(kind Kind, c Case) (Message, error) {
	if !slices.Contains(Kinds(), kind) {
		return Message{}, fmt.Errorf("content: unknown message kind %q", kind)
	}
	return r.render(r.set(c.Customer.Language), kind, c)
}

func (r *Renderer) render(set *langSet, kind Kind, c Case) (Message, error) {
	d := r.data(set, kind, c)
	subject, err := set.exec(FileSubject, d)
	if err != nil {
		return Message{}, err
	}
	text := FileBody
	switch kind {
	case KindUpdate:
		text = FileUpdate
	case KindReopen:
		text = FileReopen
	}
	body, err := set.exec(text, d)
	if err != nil {
		return Message{}, err
	}
	d.CustomerText = layout(body, Width)
	internal, err := set.exec(FileInternal, d)
	if err != nil {
		return Message{}, err
	}
	m := Message{Subject: oneLine(subject), Internal: layout(internal, Width)}
	if c.Notify {
		m.Body = d.CustomerText
	}
	return m, nil
}

// errTemplate finds the template an execution error happened in.
var errTemplate = regexp.MustCompile(`^template: ([^:]+):`)

// exec executes one template; an error names the file it happened in.
func (s *langSet) exec(name string, d *Data) (string, error) {
	var b strings.Builder
	if err := s.tmpl.ExecuteTemplate(&b, name, d); err != nil {
		origin := s.origins[name]
		if m := errTemplate.FindStringSubmatch(err.Error()); m != nil {
			if o, ok := s.origins[m[1]]; ok {
				origin = o
			}
		}
		return "", fmt.Errorf("content: %s (%s message, language %s): %w", origin, d.Kind, s.lang, err)
	}
	return b.String(), nil
}

// Data is what templates are executed with. The Case's fields are promoted.
type Data struct {
	Case
	// Kind is the message being rendered; IsCreate, IsUpdate and IsReopen
	// say the same as booleans.
	Kind                         Kind
	IsCreate, IsUpdate, IsReopen bool
	// Lang is the language of the template set ("en", "de").
	Lang string
	// Advice is the remediation advice for the case's classification.
	Advice Advice
	// Shown are the first MaxIPs of IPs, Hidden the number left out.
	Shown  []IP
	Hidden int
	// NewShown and NewHidden are the same for New.IPs.
	NewShown  []IP
	NewHidden int
	// Malware lists the distinct malware.name values of the samples.
	Malware []string
	// Now is the renderer's clock at rendering time.
	Now time.Time
	// CustomerText is the rendered customer text (body, update or reopen),
	// set for internal.tmpl only, so it can quote what was (or, with
	// Notify false, was not) sent.
	CustomerText string
}

// IsNew reports whether an address was first seen since New.Since, that
// is, whether it is new to the case in an update.
func (d *Data) IsNew(ip IP) bool {
	return d.New != nil && !ip.FirstSeen.IsZero() && !ip.FirstSeen.Before(d.New.Since)
}

func (r *Renderer) data(set *langSet, kind Kind, c Case) *Data {
	d := &Data{
		Case:     c,
		Kind:     kind,
		IsCreate: kind == KindCreate,
		IsUpdate: kind == KindUpdate,
		IsReopen: kind == KindReopen,
		Lang:     set.lang,
		Advice:   set.advice.lookup(c.Classification),
		Now:      r.now().UTC(),
	}
	d.Shown, d.Hidden = r.capIPs(c.IPs)
	if c.New != nil {
		d.NewShown, d.NewHidden = r.capIPs(c.New.IPs)
	}
	for _, s := range c.Samples {
		if m, ok := s["malware.name"]; ok && m != nil {
			name := oneLine(fmt.Sprint(m))
			if name != "" && !slices.Contains(d.Malware, name) {
				d.Malware = append(d.Malware, name)
			}
		}
	}
	return d
}

func (r *Renderer) capIPs(ips []IP) ([]IP, int) {
	if r.maxIPs < 0 || len(ips) <= r.maxIPs {
		return ips, 0
	}
	return ips[:r.maxIPs], len(ips) - r.maxIPs
}
