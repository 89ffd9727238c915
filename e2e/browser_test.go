package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's Chromium, headless, against a stack: no
// browser is downloaded at test time. A missing Chromium fails the test
// rather than skipping it, so a run without one cannot pass by accident.

// chromiumPath is AWO_TEST_CHROMIUM, /usr/bin/chromium or chromium on PATH.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("AWO_TEST_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("AWO_TEST_CHROMIUM=%s: %v", p, err)
		}
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	tb.Fatal("no Chromium for the browser tests: `make test` installs Debian's (apt-get install chromium), " +
		"or set AWO_TEST_CHROMIUM to a Chromium or Chrome binary")
	return ""
}

// browser is one headless Chromium with its own profile, showing one tab.
type browser struct {
	tb   testing.TB
	s    *stack
	ctx  context.Context
	name string // prefix of the files a failure saves

	mu       sync.Mutex
	console  []string
	bytes    map[network.RequestID]float64 // encoded bytes received, by request
	finished map[network.RequestID]bool
	urls     map[network.RequestID]string
	failures int
}

// newBrowser starts Chromium with a 1280x800 window and a fresh profile; the
// test's end closes it. Any JavaScript dialog (a confirm before a delete)
// is accepted, as a user clicking OK.
func newBrowser(tb testing.TB, s *stack) *browser {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(tb)),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.WindowSize(1280, 800),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("disable-gpu", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{tb: tb, s: s, ctx: ctx, name: "failure",
		bytes: map[network.RequestID]float64{}, finished: map[network.RequestID]bool{}, urls: map[network.RequestID]string{}}

	start, cancelStart := context.WithTimeout(ctx, 60*time.Second)
	defer cancelStart()
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to ctx (no timeout)
		tb.Fatalf("starting Chromium: %v", err)
	}
	if err := chromedp.Do(start, chromedp.EmulateViewport(1280, 800)); err != nil {
		tb.Fatalf("setting the viewport: %v", err)
	}
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		tb.Fatalf("listening to the page: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, fmt.Sprintf("%s %s:%d %s", m.Type, m.URL, m.Line+1, m.Text))
			b.mu.Unlock()
		}
	}()
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return b
}

// onEvent counts the bytes each response brought over the wire (headers
// and encoded body): the figure at loadingFinished, or what has arrived so
// far for a stream that is still open.
func (b *browser) onEvent(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.urls[e.RequestID] = e.Request.URL
	case *network.EventResponseReceived:
		if !b.finished[e.RequestID] && e.Response != nil {
			b.bytes[e.RequestID] += e.Response.EncodedDataLength // the headers
		}
	case *network.EventDataReceived:
		if !b.finished[e.RequestID] {
			b.bytes[e.RequestID] += float64(e.EncodedDataLength)
		}
	case *network.EventLoadingFinished:
		b.finished[e.RequestID] = true
		b.bytes[e.RequestID] = e.EncodedDataLength
	}
}

// resetBytes forgets the bytes counted so far.
func (b *browser) resetBytes() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.bytes)
	clear(b.finished)
	clear(b.urls)
}

// transferred is the bytes received since resetBytes, in all and by URL.
func (b *browser) transferred() (float64, map[string]float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sum float64
	byURL := map[string]float64{}
	for id, n := range b.bytes {
		sum += n
		byURL[b.urls[id]] += n
	}
	return sum, byURL
}

// do runs actions with a timeout; on error the test fails with what the
// page showed.
func (b *browser) do(what string, within time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("%s: %v", what, err)
	}
}

// open loads url (a path on the stack) as a fresh page load.
func (b *browser) open(path string) {
	b.tb.Helper()
	b.do("opening "+path, 60*time.Second, chromedp.Navigate(b.s.base+path))
}

// eval evaluates a JavaScript expression and decodes its JSON value into T.
func evalJS[T any](b *browser, expr string) T {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluating %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript expression until it is truthy. Errors while the
// page changes (a navigation destroys the context) only mean "not yet".
func (b *browser) waitJS(what, expr string, within time.Duration) {
	b.tb.Helper()
	deadline := time.Now().Add(within)
	var last error
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("waiting %s for %s (%s)", within, what, expr)
			if last != nil {
				msg += fmt.Sprintf(": last error %v", last)
			}
			b.fail("%s", msg)
		}
		select {
		case err := <-b.s.exited:
			b.fail("awo exited while the page waited for %s: %v", what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitUntil polls cond, which may look at the page and the API, until it
// holds.
func (b *browser) waitUntil(what string, within time.Duration, cond func() bool) {
	b.tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			b.fail("waiting %s for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitSel waits until an element matches the CSS selector.
func (b *browser) waitSel(sel string, within time.Duration) {
	b.tb.Helper()
	b.waitJS(sel, "document.querySelector("+jsString(sel)+")", within)
}

// waitVisible waits until an element matching sel is rendered.
func (b *browser) waitVisible(sel string, within time.Duration) {
	b.tb.Helper()
	b.waitJS(sel+" visible", "(e => e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden')(document.querySelector("+jsString(sel)+"))", within)
}

// waitView waits for a view's first render with data: the contract's
// body[data-view] and main#view[data-ready].
func (b *browser) waitView(name string, within time.Duration) {
	b.tb.Helper()
	b.waitJS("the "+name+" view ready", fmt.Sprintf(`document.body.dataset.view === %s && document.querySelector('main#view[data-ready]')`, jsString(name)), within)
}

// text is the textContent of the first element matching sel ("" if none).
func (b *browser) text(sel string) string {
	b.tb.Helper()
	return evalJS[string](b, "(e => e ? e.textContent : '')(document.querySelector("+jsString(sel)+"))")
}

// count is the number of elements matching sel.
func (b *browser) count(sel string) int {
	b.tb.Helper()
	return evalJS[int](b, "document.querySelectorAll("+jsString(sel)+").length")
}

func (b *browser) click(sel string) {
	b.tb.Helper()
	b.do("clicking "+sel, 30*time.Second, chromedp.Click(chromedp.CSS(sel)))
}

// typeInto clears a field and types text into it, key by key.
func (b *browser) typeInto(sel, text string) {
	b.tb.Helper()
	b.waitSel(sel, 30*time.Second)
	evalJS[bool](b, "(e => { e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true})); return true })(document.querySelector("+jsString(sel)+"))")
	b.do("typing into "+sel, 30*time.Second, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// screenshot saves the viewport as name (a .png) in the test's artifact
// directory and, when AWO_SCREENSHOTS_DIR is set, there too.
func (b *browser) screenshot(name string) {
	b.tb.Helper()
	// The health corner fills in on its own; a picture without it is
	// not what a user sees.
	b.waitSel("#health .dot[data-status]", 30*time.Second)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.fail("screenshot %s: %v", name, err)
	}
	b.save(name, png)
	if dir := os.Getenv("AWO_SCREENSHOTS_DIR"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			b.tb.Fatal(err)
		}
	}
}

func (b *browser) save(name string, data []byte) string {
	path := filepath.Join(b.tb.ArtifactDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.tb.Errorf("saving %s: %v", path, err)
	}
	return path
}

// fail ends the test with what it was waiting for, the page's text, the
// browser console and the tail of awo's log; the screenshot and the whole
// text are saved in the artifact directory.
func (b *browser) fail(format string, args ...any) {
	b.tb.Helper()
	msg := fmt.Sprintf(format, args...)
	b.mu.Lock()
	b.failures++
	n := b.failures
	console := strings.Join(b.console, "\n")
	b.mu.Unlock()
	prefix := fmt.Sprintf("%s-%d", b.name, n)

	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	var where, pageText string
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		where = b.save(prefix+".png", png)
	}
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`)); err == nil {
		pageText = v
		b.save(prefix+".txt", []byte(v))
	}
	logTail := ""
	if b.s != nil {
		if raw, err := os.ReadFile(b.s.logPath); err == nil {
			logTail = tail(string(raw), 40)
		}
	}
	b.tb.Fatalf("%s\n--- page (%s):\n%s\n--- browser console:\n%s\n--- awo log tail:\n%s",
		msg, where, truncate(pageText, 3000), truncate(console, 3000), logTail)
}

// consoleErrors are the uncaught exceptions and console errors so far.
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		if strings.HasPrefix(m, "exception ") || strings.HasPrefix(m, "error ") {
			out = append(out, m)
		}
	}
	return out
}

// noExceptions fails the test if the page threw an uncaught exception or
// left a promise rejection unhandled, or if the Content-Security-Policy
// refused something the page tried.
func (b *browser) noExceptions() {
	b.tb.Helper()
	var bad []string
	for _, m := range b.consoleErrors() {
		if strings.HasPrefix(m, "exception ") || strings.Contains(m, "Content Security Policy") {
			bad = append(bad, m)
		}
	}
	if len(bad) > 0 {
		b.fail("the page logged:\n%s", strings.Join(bad, "\n"))
	}
}

// darkMode makes the page see prefers-color-scheme: dark (or light again).
func (b *browser) darkMode(on bool) {
	b.tb.Helper()
	v := "light"
	if on {
		v = "dark"
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}})
	if err != nil {
		b.fail("emulating prefers-color-scheme %s: %v", v, err)
	}
}

// cacheDisabled makes every load fetch every file again, as a first visit.
func (b *browser) cacheDisabled() {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		b.fail("disabling the cache: %v", err)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}
