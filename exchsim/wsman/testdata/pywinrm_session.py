"""Drive exchsim's session loop (docs/session-protocol.md) with Debian's python3-winrm, a client nobody here wrote.

Usage: pywinrm_session.py ENDPOINT USER PASSWORD CONSOLE_MODE LOOP_B64 REQUEST_LINE...
CONSOLE_MODE is "true" or "false" (python3-winrm's run_command(console_mode_stdin=...), which sends it as
WINRS_CONSOLEMODE_STDIN). LOOP_B64 is the loop for -EncodedCommand. Each REQUEST_LINE is sent on stdin with
CR LF; the script reads stdout until it has seen the READY line and one reply line per request, or 20 s pass.
Prints one JSON line: {"lines": [...non-empty stdout lines...]} or {"error": TYPE, "message": ...}.
"""
import base64
import json
import sys
import time

import xmltodict
from winrm.protocol import Protocol


def send_input(p, shell, cmd, data):
    """A Send of data on the command's stdin (MS-WSMV 3.1.4.12), built from python3-winrm's own SOAP header
    and transport: its 0.3.0 has no send_command_input (added in 0.4.0)."""
    req = {"env:Envelope": p._get_soap_header(
        resource_uri="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd",
        action="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send",
        shell_id=shell)}
    stream = req["env:Envelope"].setdefault("env:Body", {}).setdefault("rsp:Send", {}).setdefault("rsp:Stream", {})
    stream["@Name"] = "stdin"
    stream["@CommandId"] = cmd
    stream["@End"] = "false"
    stream["#text"] = base64.b64encode(data).decode("ascii")
    p.send_message(xmltodict.unparse(req))


def main():
    endpoint, user, password, console, loop = sys.argv[1:6]
    requests = sys.argv[6:]
    p = Protocol(endpoint=endpoint, transport="ntlm", username=user, password=password,
                 operation_timeout_sec=2, read_timeout_sec=5, message_encryption="never")
    shell = p.open_shell()
    cmd = p.run_command(shell, "powershell.exe", ["-NoProfile", "-NonInteractive", "-EncodedCommand", loop],
                        console_mode_stdin=(console == "true"))
    for r in requests:
        send_input(p, shell, cmd, (r + "\r\n").encode("ascii"))
    out = b""
    deadline = time.time() + 20
    lines = []
    while time.time() < deadline:
        stdout, _, _, done = p._raw_get_command_output(shell, cmd)
        out += stdout
        lines = [l.strip() for l in out.decode("utf-8").split("\n") if l.strip()]
        if len(lines) >= 1 + len(requests) or done:
            break
    p.cleanup_command(shell, cmd)
    p.close_shell(shell)
    print(json.dumps({"lines": lines}))


try:
    main()
except Exception as e:  # the test asserts on the type name
    print(json.dumps({"error": type(e).__name__, "message": str(e)}))
