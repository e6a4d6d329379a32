package simtest

import (
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exmaintd/exmaintd/exchsim/kdc"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/exchsim/wsman"
)

// StartKerberos starts a real MIT KDC (exchsim/kdc) for a built-in scenario (default "demo"): the realm is
// its DNS domain in upper case, the scenario's account is a user (its keys also in KDC.UserKeytabPath), as
// are extraUsers (name → password), and every server has its HTTP/<fqdn> principal. The returned Kerberos
// goes into Options.Kerberos so that the simulation accepts those tickets.
func StartKerberos(tb testing.TB, scenario string, extraUsers map[string]string) (*kdc.KDC, *wsman.Kerberos) {
	tb.Helper()
	if scenario == "" {
		scenario = "demo"
	}
	sc, err := org.BuiltinScenario(scenario)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := org.New(sc, org.Options{Clock: org.RealClock{}}) // the model alone: names, no listeners
	if err != nil {
		tb.Fatal(err)
	}
	var services []string
	for _, s := range g.Servers() {
		services = append(services, "HTTP/"+strings.ToLower(s.Fqdn))
	}
	user, password := g.Credentials()
	users := map[string]string{user: password}
	for u, p := range extraUsers {
		users[u] = p
	}
	_, dnsDomain := g.Domain()
	realm := strings.ToUpper(dnsDomain)
	k := kdc.Start(tb, kdc.Options{Realm: realm, Users: users, Services: services, KeytabUsers: []string{user}})
	kt, err := keytab.Load(k.KeytabPath)
	if err != nil {
		tb.Fatal(err)
	}
	return k, &wsman.Kerberos{Keytab: kt, Realm: realm}
}
