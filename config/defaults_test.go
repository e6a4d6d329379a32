package config

import (
	"reflect"
	"testing"
	"time"
)

// TestDefaults: every default is the value config.example.toml and the docs state. A default is a
// product decision (how long a drain may take before the server is reversed); changing one must be
// deliberate, so each is written out here.
func TestDefaults(t *testing.T) {
	d := Default()
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"daemon.state_dir", d.Daemon.StateDir, "/var/lib/exmaintd"},
		{"daemon.listen", d.Daemon.Listen, "127.0.0.1:9105"},
		{"daemon.log_level", d.Daemon.LogLevel, "info"},
		{"daemon.log_format", d.Daemon.LogFormat, "json"},
		{"daemon.recovery", d.Daemon.Recovery, "reverse"},
		{"daemon.reverse_timeout", d.Daemon.ReverseTimeout.Duration, 40 * time.Minute},
		{"daemon.parallel", d.Daemon.Parallel, 2},
		{"cluster.backend", d.Cluster.Backend, "file"},
		{"cluster.prefix", d.Cluster.Prefix, "/exmaintd/"},
		{"cluster.lease_ttl", d.Cluster.LeaseTTL.Duration, 15 * time.Second},
		{"cluster.request_timeout", d.Cluster.RequestTimeout.Duration, 5 * time.Second},
		{"winrm.port", d.WinRM.Port, 5986},
		{"winrm.auth", d.WinRM.Auth, "basic"},
		{"winrm.mode", d.WinRM.Mode, "session"},
		{"winrm.operation_timeout", d.WinRM.OperationTimeout.Duration, 20 * time.Second},
		{"winrm.start_timeout", d.WinRM.StartTimeout.Duration, 2 * time.Minute},
		{"winrm.read_timeout", d.WinRM.ReadTimeout.Duration, time.Minute},
		{"winrm.write_timeout", d.WinRM.WriteTimeout.Duration, 10 * time.Minute},
		{"winrm.attempts", d.WinRM.Attempts, 3},
		{"steps.poll_interval", d.Steps.PollInterval.Duration, 10 * time.Second},
		{"steps.drain_timeout", d.Steps.DrainTimeout.Duration, 30 * time.Minute},
		{"steps.drain_stall", d.Steps.DrainStall.Duration, 5 * time.Minute},
		{"steps.drain_policy", d.Steps.DrainPolicy, "fail"},
		{"steps.move_timeout", d.Steps.MoveTimeout.Duration, 15 * time.Minute},
		{"steps.move_settle", d.Steps.MoveSettle.Duration, time.Minute},
		{"steps.move_attempts", d.Steps.MoveAttempts, 2},
		{"steps.move_retry_interval", d.Steps.MoveRetryInterval.Duration, time.Minute},
		{"steps.reboot_timeout", d.Steps.RebootTimeout.Duration, 30 * time.Minute},
		{"steps.restart_delay", d.Steps.RestartDelay.Duration, 5 * time.Second},
		{"steps.transport_boot_timeout", d.Steps.TransportBoot.Duration, 5 * time.Minute},
		{"steps.ad_replication_wait", d.Steps.ADReplicationWait.Duration, 2 * time.Minute},
		{"steps.queue_max", d.Steps.QueueMax, int64(500)},
		{"steps.copy_queue_max", d.Steps.CopyQueueMax, int64(10)},
		{"steps.replay_queue_max", d.Steps.ReplayQueueMax, int64(50)},
		{"steps.undo_attempts", d.Steps.UndoAttempts, 3},
		{"steps.undo_backoff", d.Steps.UndoBackoff.Duration, 10 * time.Second},
		{"steps.patch_grace", d.Steps.PatchGrace.Duration, 30 * time.Minute},
		{"steps.default_step_estimate", d.Steps.DefaultStepEstimate.Duration, 5 * time.Minute},
		{"steps.rebalance", d.Steps.Rebalance, true},
		{"prometheus.timeout", d.Prometheus.Timeout.Duration, 10 * time.Second},
		{"alertmanager.margin", d.Alertmanager.Margin.Duration, time.Hour},
		{"alertmanager.created_by", d.Alertmanager.CreatedBy, "exmaintd"},
		{"alertmanager.on_error", d.Alertmanager.OnError, "continue"},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("default %s = %v (%T), want %v (%T)", tc.key, tc.got, tc.got, tc.want, tc.want)
		}
	}
}
