"""A WinRM-shaped HTTP endpoint whose Kerberos side is MIT krb5 (python3-gssapi), to check exmaintd's
message encryption against an implementation nobody here wrote.

It accepts a context per TCP connection from the Negotiate token of an empty POST (answering with MIT's
AP-REP, which carries MIT's acceptor subkey), then opens each sealed request with gss_unwrap_iov and
answers with the decrypted request sealed by gss_wrap_iov — the calls pyspnego makes for WinRM — inside
MS-WSMV's multipart/encrypted framing.

Usage: mit_acceptor.py MODE    (the keytab is $KRB5_KTNAME, the realm's config $KRB5_CONFIG)
MODE "echo" answers as above; "clear" answers sealed requests in clear text (a broken or hostile server);
"clear500" and "clear401", after opening the request, answer with a clear WS-Management ShellNotFound
fault or a clear 401, as a relay that forwards the sealed request and forges the reply would; "bighead"
answers with a 1 MiB header line.
Prints "PORT <n>" once listening on 127.0.0.1; one line per event on stderr.
"""
import base64
import http.server
import struct
import sys

import gssapi
import gssapi.raw as graw

BOUNDARY = b"--Encrypted Boundary"
PROTOCOL = "application/HTTP-Kerberos-session-encrypted"
MODE = sys.argv[1]
FAULT = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
         b'<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InvalidSelectors</s:Value></s:Subcode></s:Code>'
         b'<s:Reason><s:Text xml:lang="en-US">The request for the Windows Remote Shell with ShellId 1 failed because the shell was not found on the server.</s:Text></s:Reason>'
         b'<s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858843" Machine="ex01"><f:Message>The shell was not found</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>')


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    ctx = None

    def log_message(self, fmt, *args):
        sys.stderr.write("acceptor: " + (fmt % args) + "\n")

    def reply(self, status, body=b"", ctype=None, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Negotiate "):
            self.ctx = gssapi.SecurityContext(usage="accept", creds=gssapi.Credentials(usage="accept"))
            out = self.ctx.step(base64.b64decode(auth[len("Negotiate "):]))
            if not self.ctx.complete:
                return self.reply(401, headers=[("WWW-Authenticate", "Negotiate")])
            hdrs = [("WWW-Authenticate", "Negotiate " + base64.b64encode(out).decode())] if out else []
            if not body:
                return self.reply(200, headers=hdrs)
        if self.ctx is None:
            return self.reply(401, headers=[("WWW-Authenticate", "Negotiate")])
        if "multipart/encrypted" not in self.headers.get("Content-Type", ""):
            return self.reply(500)
        msg = self.unseal(body)
        if MODE == "clear500":
            return self.reply(500, FAULT, "application/soap+xml;charset=UTF-8")
        if MODE == "clear401":
            return self.reply(401, headers=[("WWW-Authenticate", "Negotiate")])
        if MODE == "bighead":
            return self.reply(200, self.seal(msg), 'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % PROTOCOL,
                              headers=[("X-Filler", "x" * (1 << 20))])
        if MODE == "clear":
            return self.reply(200, msg, "application/soap+xml;charset=UTF-8")
        return self.reply(200, self.seal(msg), 'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % PROTOCOL)

    def unseal(self, content):
        parts = [p for p in content.split(BOUNDARY + b"\r\n") if p]
        expected = int(parts[0].split(b"Length=")[1].split(b"\r\n")[0])
        payload = parts[1].replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)[:-len(BOUNDARY + b"--\r\n")]
        n = struct.unpack("<i", payload[:4])[0]
        iov = graw.IOV((graw.IOVBufferType.header, False, payload[4:4 + n]), payload[4 + n:], std_layout=False)
        graw.unwrap_iov(self.ctx, iov)
        plain = iov[1].value
        if len(plain) != expected:
            raise RuntimeError("decrypted %d bytes, announced %d" % (len(plain), expected))
        sys.stderr.write("acceptor: opened %d bytes (signature %d)\n" % (len(plain), n))
        return plain

    def seal(self, msg):
        iov = graw.IOV(graw.IOVBufferType.header, msg, graw.IOVBufferType.padding, std_layout=False)
        graw.wrap_iov(self.ctx, iov, confidential=True)
        header, data, padding = iov[0].value, iov[1].value, iov[2].value or b""
        out = BOUNDARY + b"\r\n"
        out += ("\tContent-Type: %s\r\n" % PROTOCOL).encode()
        out += ("\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=%d\r\n" % len(msg)).encode()
        out += BOUNDARY + b"\r\n\tContent-Type: application/octet-stream\r\n"
        out += struct.pack("<i", len(header)) + header + data + padding
        return out + BOUNDARY + b"--\r\n"


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("PORT %d" % srv.server_address[1], flush=True)
srv.serve_forever()
