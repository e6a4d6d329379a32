package exchange

import (
	"fmt"
	"strings"

	"github.com/exmaintd/exmaintd/psrp"
)

// The Exchange operations: command objects for Exchange's remote PowerShell endpoint. Parameters travel as
// typed values (MS-PSRP CREATE_PIPELINE), never as script text, so no value can change what runs; the
// identities are validated anyway, so that a wrong configuration fails here with the setting named.

func command(name string, params ...psrp.Parameter) *psrp.Command {
	return &psrp.Command{Name: name, Params: params}
}

func param(name string, v any) psrp.Parameter { return psrp.Parameter{Name: name, Value: v} }

// flag turns a switch parameter on (a null value, as PowerShell's AddParameter(name) sends it).
func flag(name string) psrp.Parameter { return psrp.Parameter{Name: name} }

func noConfirm() psrp.Parameter { return param("Confirm", false) }

// identity validates v as kind (docs: ValidateIdentity) and returns it as the parameter value.
func identity(kind, v string) (string, error) {
	if err := ValidateIdentity(kind, v); err != nil {
		return "", err
	}
	return v, nil
}

// canonical returns the allowed value that matches v case-insensitively.
func canonical(kind, v string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return a, nil
		}
	}
	return "", fmt.Errorf("invalid %s %q (want one of %s)", kind, v, strings.Join(allowed, ", "))
}

// exchangeOp builds an Exchange operation from a command whose identity arguments were validated.
func exchangeOp(write bool, c *psrp.Command) Op {
	return Op{Cmdlet: c.Name, Command: c, Write: write}
}

// OpComponentStates reads Get-ServerComponentState for server.
func OpComponentStates(server string) (Op, error) {
	s, err := identity("server", server)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(false, command("Get-ServerComponentState", param("Identity", s))), nil
}

// OpSetComponentState runs Set-ServerComponentState.
func OpSetComponentState(server, component, state, requester string) (Op, error) {
	s, err := identity("server", server)
	if err != nil {
		return Op{}, err
	}
	c, err := identity("component", component)
	if err != nil {
		return Op{}, err
	}
	st, err := canonical("component state", state, componentStateValues()...)
	if err != nil {
		return Op{}, err
	}
	rq, err := canonical("requester", requester, requesterValues()...)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(true, command("Set-ServerComponentState", param("Identity", s), param("Component", c), param("State", st), param("Requester", rq))), nil
}

// OpQueues reads Get-Queue on server.
func OpQueues(server string) (Op, error) {
	s, err := identity("server", server)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(false, command("Get-Queue", param("Server", s))), nil
}

// OpRedirectMessage runs Redirect-Message (the server's queued messages go to target, an FQDN).
func OpRedirectMessage(server, target string) (Op, error) {
	s, err := identity("server", server)
	if err != nil {
		return Op{}, err
	}
	t, err := identity("target", target)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(true, command("Redirect-Message", param("Server", s), param("Target", t), noConfirm())), nil
}

// OpResumeQueue runs Resume-Queue.
func OpResumeQueue(queue string) (Op, error) {
	q, err := identity("queue", queue)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(true, command("Resume-Queue", param("Identity", q), noConfirm())), nil
}

// OpRetryQueue runs Retry-Queue -Resubmit.
func OpRetryQueue(queue string) (Op, error) {
	q, err := identity("queue", queue)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(true, command("Retry-Queue", param("Identity", q), param("Resubmit", true), noConfirm())), nil
}

// OpCopyStatus reads the copies hosted on server. (Their activation preference and replay lag come from
// OpDatabaseSettings: Get-MailboxDatabaseCopyStatus does not carry them.)
func OpCopyStatus(server string) (Op, error) {
	s, err := identity("server", server)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(false, command("Get-MailboxDatabaseCopyStatus", param("Server", s))), nil
}

// OpDatabaseCopies reads every copy of database.
func OpDatabaseCopies(database string) (Op, error) {
	d, err := identity("database", database)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(false, command("Get-MailboxDatabaseCopyStatus", param("Identity", d))), nil
}

// OpDatabaseSettings reads Get-MailboxDatabase for the databases with a copy on a server (by "server") or
// for one database (by "database"): activation preferences and replay lag times.
func OpDatabaseSettings(by, name string) (Op, error) {
	v, err := identity(by, name)
	if err != nil {
		return Op{}, err
	}
	p := "Server"
	if by == "database" {
		p = "Identity"
	}
	return exchangeOp(false, command("Get-MailboxDatabase", param(p, v))), nil
}

// OpDatabases reads Get-MailboxDatabase -Status for the databases with a copy on server.
func OpDatabases(server string) (Op, error) {
	s, err := identity("server", server)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(false, command("Get-MailboxDatabase", param("Server", s), flag("Status"))), nil
}

// OpMailboxSample reads at most one user (or arbitration) mailbox of database: whether it holds any.
func OpMailboxSample(database string, arbitration bool) (Op, error) {
	d, err := identity("database", database)
	if err != nil {
		return Op{}, err
	}
	c := command("Get-Mailbox", param("Database", d), param("ResultSize", "1"))
	if arbitration {
		c.Params = append(c.Params, flag("Arbitration"))
	}
	return exchangeOp(false, c), nil
}

// OpSuspendDatabaseCopy runs Suspend-MailboxDatabaseCopy (with -ActivationOnly: replication continues, the
// copy only cannot be activated).
func OpSuspendDatabaseCopy(copyIdentity string, activationOnly bool) (Op, error) {
	c, err := copyIdent(copyIdentity)
	if err != nil {
		return Op{}, err
	}
	cmd := command("Suspend-MailboxDatabaseCopy", param("Identity", c))
	if activationOnly {
		cmd.Params = append(cmd.Params, flag("ActivationOnly"))
	}
	cmd.Params = append(cmd.Params, param("SuspendComment", "exmaintd maintenance"), noConfirm())
	return exchangeOp(true, cmd), nil
}

// OpResumeDatabaseCopy runs Resume-MailboxDatabaseCopy.
func OpResumeDatabaseCopy(copyIdentity string) (Op, error) {
	c, err := copyIdent(copyIdentity)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(true, command("Resume-MailboxDatabaseCopy", param("Identity", c), noConfirm())), nil
}

func copyIdent(id string) (string, error) {
	db, srv, ok := strings.Cut(id, `\`)
	if !ok || db == "" || srv == "" || strings.Contains(srv, `\`) {
		return "", &IdentityError{Kind: "database copy", Value: id, Why: `want DATABASE\SERVER`}
	}
	return identity("database copy", id)
}

// OpMountDatabase runs Mount-Database.
func OpMountDatabase(database string) (Op, error) {
	d, err := identity("database", database)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(true, command("Mount-Database", param("Identity", d), noConfirm())), nil
}

// OpDismountDatabase runs Dismount-Database.
func OpDismountDatabase(database string) (Op, error) {
	d, err := identity("database", database)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(true, command("Dismount-Database", param("Identity", d), noConfirm())), nil
}

// OpMoveActiveDatabases moves every active copy off server.
func OpMoveActiveDatabases(server string) (Op, error) {
	s, err := identity("server", server)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(true, command("Move-ActiveMailboxDatabase", param("Server", s), param("MoveComment", "exmaintd maintenance"), noConfirm())), nil
}

// OpMoveActiveDatabase switches database over: to target, or with target "" to the copy Active Manager's
// best-copy selection picks (what a maintenance move wants: Active Manager knows the copies' health).
func OpMoveActiveDatabase(database, target string) (Op, error) {
	d, err := identity("database", database)
	if err != nil {
		return Op{}, err
	}
	if target == "" {
		return exchangeOp(true, command("Move-ActiveMailboxDatabase", param("Identity", d), param("MoveComment", "exmaintd maintenance"), noConfirm())), nil
	}
	t, err := identity("server", target)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(true, command("Move-ActiveMailboxDatabase", param("Identity", d), param("ActivateOnServer", t),
		param("MoveComment", "exmaintd rebalance"), noConfirm())), nil
}

// OpMailboxServer reads Get-MailboxServer.
func OpMailboxServer(server string) (Op, error) {
	s, err := identity("server", server)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(false, command("Get-MailboxServer", param("Identity", s))), nil
}

// OpSetMailboxServer runs Set-MailboxServer with the settings that are not nil.
func OpSetMailboxServer(server string, st MailboxServerSettings) (Op, error) {
	s, err := identity("server", server)
	if err != nil {
		return Op{}, err
	}
	if st.DatabaseCopyAutoActivationPolicy == nil && st.DatabaseCopyActivationDisabledAndMoveNow == nil {
		return Op{}, fmt.Errorf("Set-MailboxServer on %s: nothing to set", server)
	}
	c := command("Set-MailboxServer", param("Identity", s))
	if p := st.DatabaseCopyAutoActivationPolicy; p != nil {
		v, err := canonical("DatabaseCopyAutoActivationPolicy", *p, activationPolicies()...)
		if err != nil {
			return Op{}, err
		}
		c.Params = append(c.Params, param("DatabaseCopyAutoActivationPolicy", v))
	}
	if m := st.DatabaseCopyActivationDisabledAndMoveNow; m != nil {
		c.Params = append(c.Params, param("DatabaseCopyActivationDisabledAndMoveNow", *m))
	}
	c.Params = append(c.Params, noConfirm())
	return exchangeOp(true, c), nil
}

// OpDAG reads Get-DatabaseAvailabilityGroup -Status.
func OpDAG(name string) (Op, error) {
	d, err := identity("DAG", name)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(false, command("Get-DatabaseAvailabilityGroup", param("Identity", d), flag("Status"))), nil
}

// OpExchangeServers reads Get-ExchangeServer.
func OpExchangeServers() Op {
	return exchangeOp(false, command("Get-ExchangeServer"))
}

// OpServiceHealth runs Test-ServiceHealth.
func OpServiceHealth(server string) (Op, error) {
	s, err := identity("server", server)
	if err != nil {
		return Op{}, err
	}
	return exchangeOp(false, command("Test-ServiceHealth", param("Server", s))), nil
}
