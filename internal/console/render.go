package console

import (
	"bytes"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
	"github.com/shopspring/decimal"
)

// view is what every page template gets.
type view struct {
	Title string
	// Nav is the active navigation entry.
	Nav  string
	User *userView // nil when signed out
	// CSRF is the token every form of the page posts back.
	CSRF string
	Data any
}

// userView is the signed-in identity shown in the header.
type userView struct {
	Kind     string
	KeyID    string
	Customer string
	App      string
	Operator bool
}

var funcs = template.FuncMap{
	"time":     fmtTime,
	"timep":    fmtTimePtr,
	"duration": fmtDuration,
	"price":    fmtPrice,
	"str":      fmtStrPtr,
	"seconds":  func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) },
	"clock":    fmtClock,
	"money":    func(d decimal.Decimal) string { return d.String() },
	"percent":  func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" },
}

// parsePages parses each page with the layout. The templates are embedded,
// so an error is a bug caught by every test: panic.
func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
	}
	return pages
}

// render writes page with status. It renders into a buffer first, so a
// template error becomes a clean 500 rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, s *session, title, nav string, data any) {
	v := view{Title: title, Nav: nav, Data: data}
	if s != nil {
		v.User, v.CSRF = s.user(), s.csrf
	}
	buf := c.bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer c.bufPool.Put(buf)
	if err := c.pages[page].ExecuteTemplate(buf, "layout", v); err != nil {
		c.log.ErrorContext(r.Context(), "render", "page", page, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show one tenant's data: no shared cache may keep them.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return fmtTime(*t)
}

// fmtDuration shows whole seconds as m:ss (h:mm:ss past an hour).
func fmtDuration(sec int) string {
	if sec < 3600 {
		return strconv.Itoa(sec/60) + ":" + pad2(sec%60)
	}
	return strconv.Itoa(sec/3600) + ":" + pad2(sec/60%60) + ":" + pad2(sec%60)
}

// fmtClock shows seconds of audio as m:ss.
func fmtClock(f float64) string { return fmtDuration(int(f)) }

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func fmtPrice(p *decimal.Decimal, currency string) string {
	if p == nil {
		return "—"
	}
	return strings.TrimSpace(p.String() + " " + currency)
}

func fmtStrPtr(v any) string {
	var s string
	switch p := v.(type) {
	case *string:
		if p != nil {
			s = *p
		}
	case *voice.HangupCause:
		if p != nil {
			s = string(*p)
		}
	case *voice.HangupSource:
		if p != nil {
			s = string(*p)
		}
	}
	if s == "" {
		return "—"
	}
	return s
}

// excerpt cuts s to n bytes at a rune boundary.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
