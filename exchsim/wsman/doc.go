// Package wsman is exchsim's WS-Management server: the Windows Remote Shell (WinRS) resource
// http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd as a real http.Handler, so that WinRM clients
// (masterzen/winrm, Debian's python3-winrm) run against it unchanged.
//
// Modelled (see shared/reference/winrm-protocol.md §2): Create, Command, Send (stdin, End="true"), Receive
// (long poll until output, completion or OperationTimeout, then the w:TimedOut fault 2150858793), Signal
// (terminate, ctrl_c, ctrl_break) and Delete, with Windows' exact response prefixes (s, a, x, w, rsp, p),
// a:RelatesTo echoing the request's MessageID and application/soap+xml on every SOAP reply including faults;
// requests are parsed by namespace URI, not prefix. Output is split so each Receive reply stays under the
// request's MaxEnvelopeSize. Shells expire after their idle timeout, and an unknown or expired shell answers
// fault 2150858843; more than MaxShellsPerUser shells answer QuotaLimit 2150859173. Authentication: Basic
// (refused over plain HTTP unless AllowUnencrypted, as Windows does), NTLMv2 verified against the configured
// password and bound to the TCP connection as HTTP.sys binds it, HTTPS, and client certificates over HTTPS
// (the https/mutual Authorization header, checked against WinRM certificate mappings: issuer thumbprint and
// signature, UPN subject pattern, validity, clientAuth; the request runs as the mapped local account), and
// Kerberos in Negotiate (the ticket for HTTP/<FQDN> checked with the service keytab, the reply carrying the
// AP-REP of mutual authentication, SPNEGO-wrapped or bare as the request was, with an acceptor subkey) and,
// over plain HTTP, Kerberos message encryption (sealed multipart/encrypted requests opened and replies
// sealed with the connection's context; a clear Kerberos body refused with a bare 500 unless
// AllowUnencrypted).
//
// Not modelled: CredSSP, NTLM message encryption (NTLM clients must use HTTPS or AllowUnencrypted),
// TLS renegotiation for the client certificate (a Go server asks for it in the handshake), the Enumerate/Get/Put resources (WMI), PowerShell remoting (PSRP: the
// Microsoft.PowerShell resource URIs), WINRS_CODEPAGE 437 re-encoding (output bytes are passed through: exact
// for ASCII, which is all exmaintd reads), and the inbound MaxEnvelopeSizekb limit.
package wsman
