package wsman

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/psrp"
)

type nopRemoting struct{}

func (nopRemoting) Invoke(context.Context, string, string, []psrp.Command) ([]any, []psrp.ErrorRecord, *psrp.ErrorRecord) {
	return nil, nil, nil
}

// createEnvelope is a minimal Create for resource at path.
func createEnvelope(url, resource string) string {
	return `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ` +
		`xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header>` +
		`<a:To>` + url + `</a:To><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</a:Action><a:MessageID>uuid:1</a:MessageID>` +
		`<w:ResourceURI>` + resource + `</w:ResourceURI></s:Header><s:Body><rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>` +
		`<rsp:OutputStreams>stdout</rsp:OutputStreams></rsp:Shell></s:Body></s:Envelope>`
}

// TestPSRPResources: the Microsoft.Exchange configuration lives at /PowerShell only (IIS hosts it, the WinRM
// service does not know it), /PowerShell serves nothing else, and a listener without an Exchange endpoint
// has no /PowerShell at all.
func TestPSRPResources(t *testing.T) {
	with := startServer(t, false, func(c *Config) { c.Remoting = nopRemoting{} })
	without := startServer(t, false, nil)
	for _, tc := range []struct {
		name     string
		l        *listener
		path     string
		resource string
		status   int
		want     string
	}{
		{"exchange at /PowerShell", with, "/PowerShell", ResourceExchange, http.StatusOK, "ResourceCreated"},
		{"path is case-insensitive", with, "/powershell", ResourceExchange, http.StatusOK, "ResourceCreated"},
		{"cmd at /PowerShell", with, "/PowerShell", resourceCmd, http.StatusInternalServerError, "2150858782"},
		{"exchange at /wsman", with, "/wsman", ResourceExchange, http.StatusInternalServerError, "was not found in the WS-Management catalog"},
		{"cmd at /wsman", with, "/wsman", resourceCmd, http.StatusOK, "ResourceCreated"},
		{"no endpoint configured", without, "/PowerShell", ResourceExchange, http.StatusNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := fmt.Sprintf("http://127.0.0.1:%d%s", tc.l.port, tc.path)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(createEnvelope(url, tc.resource)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
			req.SetBasicAuth(testUser, testPassword)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
				t.Errorf("status %d, body %.300s; want %d containing %q", resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}
}
