// Package org is exchsim's Exchange organisation: servers, DAGs, databases and their copies, server
// component states per requester, transport queues that drain over simulated time, mailbox-server
// activation policies, cluster nodes, Windows services and reboots — and the cmdlets that read and change
// them, as ps.Cmdlet values for exchsim's PowerShell front end.
//
// Modelled (shared/reference/exchange-maintenance.md §1, §3, §4): effective component state with "Inactive
// wins" across requesters and ServerWideOffline overriding all but Monitoring and RecoveryActionsEnabled;
// ForwardSyncDaemon and ProvisioningRps Inactive by design; HubTransport Draining that takes effect only
// after MSExchangeTransport restarts; Redirect-Message moving active messages only (shadow and poison stay;
// poison never drains); database moves that pick a healthy copy by activation preference (CopyQueueLength
// < 10, ReplayQueueLength < 50, content index Healthy) and never a Blocked server or one with
// HighAvailability Inactive; Dismount-Database dismounting the active copy wherever it is (the outage the
// seed procedure causes); cluster pause surviving reboots; LastBootUpTime moving on reboot while
// component, policy and cluster state survive (registry/AD state).
//
// Not modelled: mail flow other than the queues' message counts; per-message properties; Active Manager's
// automatic failover on failures other than a reboot; lagged-copy replay; UM; the detached job cmdlets
// (Start-Process/Get-Content) — see the package's tests for what is covered.
package org
