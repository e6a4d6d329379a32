package exchsim_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/smnsjas/go-psrpcore/fragments"
	"github.com/smnsjas/go-psrpcore/messages"
	"github.com/smnsjas/go-psrpcore/pipeline"
	"github.com/smnsjas/go-psrpcore/runspace"
	"github.com/smnsjas/go-psrpcore/serialization"

	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
)

// wsmanTransport carries go-psrpcore's PSRP fragments over WS-Management with envelopes written here by
// hand — not with masterzen's builders and not with exmaintd's client — so that exchsim's Exchange endpoint
// is checked by a PSRP implementation nobody in this project wrote (github.com/smnsjas/go-psrpcore, sans-IO)
// over a transport that shares no code with the client it is meant to catch.
type wsmanTransport struct {
	tb         testing.TB
	url        string
	user, pass string
	http       *http.Client
	shellID    string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
	created map[uuid.UUID]bool
	failure error
}

const (
	wsmanShell = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	psConfig   = "http://schemas.microsoft.com/powershell/Microsoft.Exchange"
)

func (w *wsmanTransport) envelope(action, selector, options, body string) string {
	sel := ""
	if selector != "" {
		sel = `<wsman:SelectorSet><wsman:Selector Name="ShellId">` + selector + `</wsman:Selector></wsman:SelectorSet>`
	}
	return `<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"` +
		` xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="` + wsmanShell + `"><s:Header>` +
		`<wsa:To>` + w.url + `</wsa:To><wsa:ReplyTo><wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>` +
		`<wsa:Action>` + action + `</wsa:Action><wsa:MessageID>uuid:` + uuid.NewString() + `</wsa:MessageID>` +
		`<wsman:ResourceURI>` + psConfig + `</wsman:ResourceURI><wsman:MaxEnvelopeSize>512000</wsman:MaxEnvelopeSize>` +
		`<wsman:OperationTimeout>PT2S</wsman:OperationTimeout>` + sel + options + `</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}

type reply struct {
	Streams []struct {
		CommandID string `xml:"CommandId,attr"`
		Data      string `xml:",chardata"`
	} `xml:"Body>ReceiveResponse>Stream"`
	States []struct {
		State string `xml:"State,attr"`
	} `xml:"Body>ReceiveResponse>CommandState"`
	ShellID string `xml:"Body>ResourceCreated>ReferenceParameters>SelectorSet>Selector"`
	Fault   struct {
		Code string `xml:"Code,attr"`
	} `xml:"Body>Fault>Detail>WSManFault"`
}

func (w *wsmanTransport) post(ctx context.Context, env string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, strings.NewReader(env))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.SetBasicAuth(w.user, w.pass)
	resp, err := w.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	var r reply
	if err := xml.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("http %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("http %d, WSManFault %s", resp.StatusCode, r.Fault.Code)
	}
	return r, nil
}

// create opens the shell with go-psrpcore's handshake fragments in creationXml (MS-PSRP 3.1.5.3.1).
func (w *wsmanTransport) create(pool *runspace.Pool) error {
	frags, err := pool.GetHandshakeFragments()
	if err != nil {
		return err
	}
	w.shellID = strings.ToUpper(pool.ID().String())
	body := `<rsp:Shell ShellId="` + w.shellID + `"><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>` +
		`<creationXml xmlns="http://schemas.microsoft.com/powershell">` + base64.StdEncoding.EncodeToString(frags) + `</creationXml></rsp:Shell>`
	r, err := w.post(w.ctx, w.envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Create", "",
		`<wsman:OptionSet><wsman:Option Name="protocolversion" MustComply="true">2.3</wsman:Option></wsman:OptionSet>`, body))
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	w.shellID = strings.TrimSpace(r.ShellID)
	w.poll("")
	return nil
}

// poll receives for the pool (commandID "") or a pipeline until Done, appending whole replies to the stream
// go-psrpcore reads.
func (w *wsmanTransport) poll(commandID string) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		attr := ""
		if commandID != "" {
			attr = ` CommandId="` + commandID + `"`
		}
		for w.ctx.Err() == nil {
			r, err := w.post(w.ctx, w.envelope(wsmanShell+"/Receive", w.shellID, "", `<rsp:Receive><rsp:DesiredStream`+attr+`>stdout</rsp:DesiredStream></rsp:Receive>`))
			if err != nil {
				if r.Fault.Code == "2150858793" { // OperationTimeout: nothing yet
					continue
				}
				if w.ctx.Err() == nil {
					w.fail(fmt.Errorf("receive %q: %w", commandID, err))
				}
				return
			}
			var data []byte
			for _, s := range r.Streams {
				b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s.Data))
				if err != nil {
					w.fail(err)
					return
				}
				data = append(data, b...)
			}
			w.mu.Lock()
			w.buf.Write(data)
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
			for _, st := range r.States {
				if strings.HasSuffix(st.State, "/Done") {
					return
				}
			}
		}
	}()
}

func (w *wsmanTransport) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failure == nil {
		w.failure = err
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *wsmanTransport) Read(p []byte) (int, error) {
	for {
		w.mu.Lock()
		if w.buf.Len() > 0 {
			n, err := w.buf.Read(p)
			w.mu.Unlock()
			return n, err
		}
		if w.failure != nil {
			err := w.failure
			w.mu.Unlock()
			return 0, err
		}
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-w.ctx.Done():
			return 0, io.EOF
		}
	}
}

// Write sends pool-level data (MS-PSRP 3.1.5.3.5: Send without a CommandId).
func (w *wsmanTransport) Write(p []byte) (int, error) {
	_, err := w.post(w.ctx, w.envelope(wsmanShell+"/Send", w.shellID, "",
		`<rsp:Send><rsp:Stream Name="stdin">`+base64.StdEncoding.EncodeToString(p)+`</rsp:Stream></rsp:Send>`))
	return len(p), err
}

// SendCommand is go-psrpcore's "a pipeline starts": over WS-Management the Command itself carries the first
// fragment, so it waits for SendPipelineData.
func (w *wsmanTransport) SendCommand(uuid.UUID) error { return nil }

// SendPipelineData sends the first fragment of a pipeline as its Command's argument (MS-PSRP 3.1.5.3.3), the
// rest by Send with the CommandId.
func (w *wsmanTransport) SendPipelineData(id uuid.UUID, data []byte) error {
	commandID := strings.ToUpper(id.String())
	w.mu.Lock()
	created := w.created[id]
	w.created[id] = true
	w.mu.Unlock()
	b64 := base64.StdEncoding.EncodeToString(data)
	if !created {
		_, err := w.post(w.ctx, w.envelope(wsmanShell+"/Command", w.shellID, "",
			`<rsp:CommandLine CommandId="`+commandID+`"><rsp:Command></rsp:Command><rsp:Arguments>`+b64+`</rsp:Arguments></rsp:CommandLine>`))
		if err == nil {
			w.poll(commandID)
		}
		return err
	}
	_, err := w.post(w.ctx, w.envelope(wsmanShell+"/Send", w.shellID, "",
		`<rsp:Send><rsp:Stream Name="stdin" CommandId="`+commandID+`">`+b64+`</rsp:Stream></rsp:Send>`))
	return err
}

func (w *wsmanTransport) signal(id uuid.UUID) error {
	_, err := w.post(w.ctx, w.envelope(wsmanShell+"/Signal", w.shellID, "",
		`<rsp:Signal CommandId="`+strings.ToUpper(id.String())+`"><rsp:Code>http://schemas.microsoft.com/powershell/signal/crtl_c</rsp:Code></rsp:Signal>`))
	return err
}

func (w *wsmanTransport) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = w.post(ctx, w.envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete", w.shellID, "", ""))
	w.cancel()
	w.wg.Wait()
}

// openIndependentPool opens a go-psrpcore runspace pool on server's Exchange endpoint.
func openIndependentPool(t *testing.T, sim *exchsim.Sim, server string) (*runspace.Pool, *wsmanTransport) {
	t.Helper()
	var url string
	for _, e := range sim.Servers() {
		if e.Name == server {
			url = e.ExchangeURL()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	// A cookie jar, as pypsrp keeps cookies since jborean93/pypsrp#165: exchsim's /PowerShell sets the
	// MS-WSMAN affinity cookie and refuses a pool's requests without it (exchsim/wsman/affinity.go).
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &wsmanTransport{tb: t, url: url, user: sim.User(), pass: sim.Password(), http: &http.Client{Timeout: 30 * time.Second, Jar: jar},
		ctx: ctx, cancel: cancel, changed: make(chan struct{}), created: map[uuid.UUID]bool{}}
	pool := runspace.New(w, uuid.New())
	pool.SkipHandshakeSend = true // the handshake travels in creationXml
	if err := w.create(pool); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	if err := pool.Open(ctx); err != nil {
		t.Fatal(err)
	}
	waitPoolOpened(t, w)
	pool.StartDispatchLoop()
	return pool, w
}

// waitPoolOpened reads the pool's messages until RUNSPACEPOOL_STATE arrives. go-psrpcore takes a pool whose
// handshake went in creationXml as Opened at once (SkipHandshakeSend), but an MS-PSRP server reports Opened
// with RUNSPACEPOOL_STATE when it is (3.1.4.1; exchsim after its runspace_open cost, on a goroutine): a
// pipeline created before that is refused, which made this test flaky on a loaded machine. The messages
// are read with go-psrpcore's own fragment and message decoders.
func waitPoolOpened(t *testing.T, r io.Reader) {
	t.Helper()
	asm := fragments.NewAssembler()
	for {
		head := make([]byte, 21) // ObjectId, FragmentId, flags, blob length (MS-PSRP 2.2.4)
		if _, err := io.ReadFull(r, head); err != nil {
			t.Fatalf("waiting for RUNSPACEPOOL_STATE: %v", err)
		}
		blob := make([]byte, binary.BigEndian.Uint32(head[17:]))
		if _, err := io.ReadFull(r, blob); err != nil {
			t.Fatalf("waiting for RUNSPACEPOOL_STATE: %v", err)
		}
		f, err := fragments.Decode(append(head, blob...))
		if err != nil {
			t.Fatal(err)
		}
		complete, data, err := asm.Add(f)
		if err != nil {
			t.Fatal(err)
		}
		if !complete {
			continue
		}
		m, err := messages.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type == messages.MessageTypeRunspacePoolState {
			return
		}
	}
}

type command struct {
	name     string
	isScript bool
	params   [][2]any
}

// run invokes one pipeline and returns its deserialised output and its error.
func run(t *testing.T, pool *runspace.Pool, c command) ([]*serialization.PSObject, error) {
	t.Helper()
	pl, err := pool.CreatePipelineBuilder()
	if err != nil {
		t.Fatal(err)
	}
	pl.AddCommand(c.name, c.isScript)
	for _, p := range c.params {
		pl.AddParameter(p[0].(string), p[1])
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := pl.Invoke(ctx); err != nil {
		t.Fatalf("%s: invoke: %v", c.name, err)
	}
	// Read Output until go-psrpcore closes it (it does when the pipeline ends, after the buffered output):
	// taking Done as the end instead loses output still in the buffer when select picks Done first.
	var out []*serialization.PSObject
	done := false
	for !done {
		select {
		case m, ok := <-pl.Output():
			if !ok {
				done = true
				break
			}
			objs, err := serialization.NewDeserializer().Deserialize(m.Data)
			if err != nil {
				t.Fatalf("%s: go-psrpcore cannot deserialise exchsim's output: %v", c.name, err)
			}
			for _, o := range objs {
				if po, ok := o.(*serialization.PSObject); ok {
					out = append(out, po)
				}
			}
		case <-ctx.Done():
			t.Fatalf("%s: no end within 30 s", c.name)
		}
	}
	return out, pl.Wait()
}

// TestPSRPIndependentClient drives exchsim's Exchange endpoint with go-psrpcore: the pool opens from
// creationXml, a read and a write run as command objects and their output deserialises with the
// independent implementation to the expected types and values; a script, a Windows cmdlet and an unknown
// parameter are refused as Exchange's NoLanguage, RBAC-trimmed endpoint refuses them; a CREATE_PIPELINE of
// many fragments is reassembled; a Signal stops a running pipeline.
func TestPSRPIndependentClient(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{Cost: cost.Profile{}})
	pool, _ := openIndependentPool(t, sim, "EX01")

	out, err := run(t, pool, command{name: "Get-ServerComponentState", params: [][2]any{{"Identity", "EX01"}, {"Component", "HubTransport"}}})
	if err != nil || len(out) != 1 {
		t.Fatalf("Get-ServerComponentState: %d objects, %v", len(out), err)
	}
	o := out[0]
	if !strings.Contains(strings.Join(o.TypeNames, " "), "Microsoft.Exchange.Data.Directory.Management.ServerComponentStatePresentationObject") {
		t.Errorf("type names %v", o.TypeNames)
	}
	if o.Properties["Component"] != "HubTransport" || fmt.Sprint(o.Properties["ServerFqdn"]) != "ex01.exlab.local" {
		t.Errorf("properties %v", o.Properties)
	}

	if _, err := run(t, pool, command{name: "Set-ServerComponentState", params: [][2]any{{"Identity", "EX01"}, {"Component", "HubTransport"},
		{"State", "Draining"}, {"Requester", "Maintenance"}, {"Confirm", false}}}); err != nil {
		t.Fatalf("Set-ServerComponentState: %v", err)
	}
	out, err = run(t, pool, command{name: "Get-ServerComponentState", params: [][2]any{{"Identity", "EX01"}, {"Component", "HubTransport"}}})
	if err != nil || len(out) != 1 || !strings.Contains(fmt.Sprint(out[0].Properties["State"]), "Draining") {
		t.Fatalf("after the write: %v, %v", out, err)
	}

	for _, tc := range []struct {
		c    command
		want string
	}{
		{command{name: "Get-Date", isScript: true}, "no-language mode"},
		{command{name: "Get-Service"}, "is not recognized"},
		{command{name: "Get-Queue", params: [][2]any{{"Nonsense", "x"}}}, "cannot be found that matches parameter name 'Nonsense'"},
		{command{name: "Get-MailboxServer", params: [][2]any{{"Identity", strings.Repeat("y", 200_000)}}}, strings.Repeat("y", 200_000)},
	} {
		if _, err := run(t, pool, tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %.300v, want one containing %.80q", tc.c.name, err, tc.want)
		}
	}
	if n := sim.Requests()["Send"]; n < 2 {
		t.Errorf("%d Sends: the 200 kB pipeline should have crossed several fragments", n)
	}
	if err := sim.InjectFault(exchsim.Fault{Kind: "cmdlet_error", Server: "EX01", Target: "Get-Queue"}); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, pool, command{name: "Get-Queue", params: [][2]any{{"Server", "EX01"}}}); err == nil || !strings.Contains(err.Error(), "injected by exchsim") {
		t.Errorf("a failing cmdlet: %v", err)
	}
}

// TestPSRPIndependentStop: a Signal (powershell/signal/crtl_c) stops a running pipeline; go-psrpcore sees it
// end Stopped.
func TestPSRPIndependentStop(t *testing.T) {
	// The cmdlet takes a minute; the stop must end it long before (30 s is a generous bound, not a measure).
	sim := simtest.Start(t, simtest.Options{Cost: cost.Profile{Cmdlet: time.Minute}})
	pool, w := openIndependentPool(t, sim, "EX01")
	pl, err := pool.CreatePipelineBuilder()
	if err != nil {
		t.Fatal(err)
	}
	pl.AddCommand("Get-Queue", false).AddParameter("Server", "EX01")
	if err := pl.Invoke(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := w.signal(pl.ID()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pl.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the pipeline did not stop within 30 s of the Signal (the cmdlet takes a minute)")
	}
	if err := pl.Wait(); err != nil || pl.State() != pipeline.StateStopped {
		t.Errorf("pipeline ended %s (%v), want Stopped", pl.State(), err)
	}
}

// TestAffinityCookie: exchsim's /PowerShell sets the MS-WSMAN affinity cookie when a pool is created, and a
// request of the pool with another value (a load balancer would send it to another server) fails as a shell
// not found (exchsim/wsman/affinity.go).
func TestAffinityCookie(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{Cost: cost.Profile{}})
	pool, w := openIndependentPool(t, sim, "EX01")
	u, err := url.Parse(w.url)
	if err != nil {
		t.Fatal(err)
	}
	if cs := w.http.Jar.Cookies(u); len(cs) != 1 || cs[0].Name != "MS-WSMAN" || cs[0].Value == "" {
		t.Fatalf("cookies after the pool's creation: %v; want MS-WSMAN", cs)
	}
	if _, err := run(t, pool, command{name: "Get-ExchangeServer"}); err != nil {
		t.Fatalf("with the cookie: %v", err)
	}
	w.http.Jar.SetCookies(u, []*http.Cookie{{Name: "MS-WSMAN", Value: "another-server", Path: "/PowerShell"}})
	pl, err := pool.CreatePipelineBuilder()
	if err != nil {
		t.Fatal(err)
	}
	pl.AddCommand("Get-ExchangeServer", false)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := pl.Invoke(ctx); err == nil || !strings.Contains(err.Error(), "2150858843") {
		t.Errorf("with another affinity cookie: %v; want WSManFault 2150858843 (shell not found)", err)
	}
}
