// Package psrp is the wire format of the PowerShell Remoting Protocol ([MS-PSRP]): the fragments that carry
// messages inside WS-Management streams, the messages themselves, and CLIXML, the XML serialisation of
// PowerShell objects that every message's data is written in.
//
// It knows nothing about WS-Management or Exchange. exmaintd's client (exchange/) and exchsim's Exchange
// endpoint (exchsim/wsman) both use it; because they share it, it is checked against the examples of the
// specification (testdata/spec) and against objects captured from real Exchange servers, not only against
// itself.
package psrp
