package org

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchsim/ps"
)

// Scheduled tasks (the ScheduledTasks module of Windows Server 2012+): how an installer runs detached from
// any WinRM shell, as SYSTEM, surviving the shell, the session and the client (Ansible's win_updates and
// become, PSWindowsUpdate's Invoke-WUJob, exchange-maintenance.md §6). exchsim keeps the registered tasks
// per server; Start-ScheduledTask runs an exmaintd job (the action must be powershell.exe with
// -EncodedCommand of a script whose first line is the job marker), and the task's state and last result
// follow the job: Running, then Ready with the job's exit code; a reboot terminates it.

// Task Scheduler's result codes that exchsim reports (winerror.h / Task Scheduler reference).
const (
	taskHasNotRun    = 0x41303 // SCHED_S_TASK_HAS_NOT_RUN
	taskTerminated   = 0x41306 // SCHED_S_TASK_TERMINATED: the instance was ended (here: by a reboot)
	taskStateReady   = "Ready"
	taskStateRunning = "Running"
)

// schedTask is a registered task: what exchsim reads of its definition (the action it runs and
// MultipleInstances) and its dynamic state.
type schedTask struct {
	name, path string
	execute    string
	arguments  string
	multiple   string
	// settings is the registered MSFT_TaskSettings (ExecutionTimeLimit, Priority) as Get-ScheduledTask
	// shows it. The time limit is never enforced: exmaintd's tasks are started on demand, and Task
	// Scheduler bypasses the limit for those (ITaskSettings::ExecutionTimeLimit).
	settings *ps.Object
	// user is the account the task runs as: S-1-5-18 for SYSTEM, DOMAIN\name$ for a gMSA, DOMAIN\name.
	user       string
	state      string
	lastResult int64
	lastRun    time.Time
	jobPID     int64 // the running instance's job, 0 when none
}

func taskKey(path, name string) string { return strings.ToLower(path + name) }

// taskPath is the call's -TaskPath, the root folder when none is given.
func taskPath(inv ps.Invocation) string {
	if p := arg(inv, "TaskPath"); p != "" {
		return p
	}
	return `\`
}

// stateEnum is the module's generated StateEnum (Unknown 0, Disabled 1, Queued 2, Ready 3, Running 4).
func stateEnum(st string) ps.Enum {
	return enum("Microsoft.PowerShell.Cmdletization.GeneratedTypes.ScheduledTask.StateEnum", st,
		map[string]int64{"Unknown": 0, "Disabled": 1, "Queued": 2, "Ready": 3, "Running": 4})
}

func taskCmdlets() []*cmdlet {
	return []*cmdlet{
		{name: "New-ScheduledTaskAction", params: []ps.Parameter{must(p("Execute", 0)), p("Argument", 1), p("WorkingDirectory", 2)}, fn: newTaskAction},
		{name: "New-ScheduledTaskPrincipal", params: []ps.Parameter{must(p("UserId", 0)), p("LogonType", 1), p("RunLevel", 2)}, fn: newTaskPrincipal},
		{name: "New-ScheduledTaskSettingsSet", params: []ps.Parameter{p("ExecutionTimeLimit", -1), p("Priority", -1), p("MultipleInstances", -1), sw("AllowStartIfOnBatteries"), sw("DontStopIfGoingOnBatteries")}, fn: newTaskSettings},
		{name: "Register-ScheduledTask", params: []ps.Parameter{must(p("TaskName", 0)), p("TaskPath", 1), p("Action", 2), p("Principal", -1), p("User", -1), p("Password", -1), p("RunLevel", -1), p("Settings", -1), p("Description", -1), sw("Force")}, fn: registerTask},
		{name: "Start-ScheduledTask", params: []ps.Parameter{must(p("TaskName", 0)), p("TaskPath", 1)}, fn: startTask},
		{name: "Get-ScheduledTask", params: []ps.Parameter{p("TaskName", 0), p("TaskPath", 1)}, fn: getTask},
		{name: "Get-ScheduledTaskInfo", params: []ps.Parameter{must(p("TaskName", 0)), p("TaskPath", 1)}, fn: getTaskInfo},
		{name: "Unregister-ScheduledTask", params: []ps.Parameter{must(p("TaskName", 0)), p("TaskPath", 1)}, fn: unregisterTask},
	}
}

func newTaskAction(_ *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	return []any{ps.NewObject("Microsoft.Management.Infrastructure.CimInstance#Root/Microsoft/Windows/TaskScheduler/MSFT_TaskExecAction",
		"Execute", arg(inv, "Execute"), "Arguments", arg(inv, "Argument"), "WorkingDirectory", arg(inv, "WorkingDirectory"))}, nil
}

func newTaskPrincipal(_ *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	return []any{ps.NewObject("Microsoft.Management.Infrastructure.CimInstance#Root/Microsoft/Windows/TaskScheduler/MSFT_TaskPrincipal2",
		"UserId", arg(inv, "UserId"), "LogonType", arg(inv, "LogonType"), "RunLevel", arg(inv, "RunLevel"))}, nil
}

// newTaskSettings builds the settings as the cmdlet does: the time limit kept as Task Scheduler stores it
// (an ISO 8601 duration, "PT2H15M"), the priority 7 unless given (ITaskSettings::Priority's default).
func newTaskSettings(_ *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	prio := int64(7)
	if v := arg(inv, "Priority"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 10 {
			return nil, &ps.Error{Message: fmt.Sprintf("Cannot validate argument on parameter 'Priority'. The %s argument is greater than the maximum allowed range of 10. Supply an argument that is less than or equal to 10 and then try the command again.", v),
				Category: "InvalidData", ErrorID: "ParameterArgumentValidationError,New-ScheduledTaskSettingsSet", Terminating: true}
		}
		prio = n
	}
	limit := "PT72H" // the default: 72 hours
	if v := arg(inv, "ExecutionTimeLimit"); v != "" {
		d, err := parseTimeSpan(v)
		if err != nil {
			return nil, &ps.Error{Message: fmt.Sprintf("Cannot process argument transformation on parameter 'ExecutionTimeLimit'. Cannot convert value \"%s\" to type \"System.TimeSpan\".", v),
				Category: "InvalidData", ErrorID: "ParameterArgumentTransformationError,New-ScheduledTaskSettingsSet", Terminating: true}
		}
		limit = isoDuration(d)
	}
	return []any{ps.NewObject("Microsoft.Management.Infrastructure.CimInstance#Root/Microsoft/Windows/TaskScheduler/MSFT_TaskSettings3",
		"ExecutionTimeLimit", limit, "Priority", prio, "MultipleInstances", arg(inv, "MultipleInstances"))}, nil
}

// parseTimeSpan reads .NET's TimeSpan text: [d.]hh:mm:ss.
func parseTimeSpan(s string) (time.Duration, error) {
	days := int64(0)
	rest := s
	if d, r, ok := strings.Cut(s, "."); ok && !strings.Contains(d, ":") {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil {
			return 0, err
		}
		days, rest = n, r
	}
	f := strings.Split(rest, ":")
	if len(f) != 3 {
		return 0, fmt.Errorf("timespan %q", s)
	}
	var hms [3]int64
	for i, x := range f {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("timespan %q", s)
		}
		hms[i] = n
	}
	return time.Duration(days)*24*time.Hour + time.Duration(hms[0])*time.Hour + time.Duration(hms[1])*time.Minute + time.Duration(hms[2])*time.Second, nil
}

// isoDuration is d as Task Scheduler stores a time limit (PT0S: no limit).
func isoDuration(d time.Duration) string {
	s := int64(d / time.Second)
	out := "P"
	if days := s / 86400; days > 0 {
		out += strconv.FormatInt(days, 10) + "D"
	}
	out += "T"
	if h := s % 86400 / 3600; h > 0 {
		out += strconv.FormatInt(h, 10) + "H"
	}
	if m := s % 3600 / 60; m > 0 {
		out += strconv.FormatInt(m, 10) + "M"
	}
	if sec := s % 60; sec > 0 || out == "PT" {
		out += strconv.FormatInt(sec, 10) + "S"
	}
	return out
}

func objString(v any, prop string) string {
	o, ok := v.(*ps.Object)
	if !ok {
		return ""
	}
	x, _ := o.Get(prop)
	if x == nil {
		return ""
	}
	return fmt.Sprint(x)
}

func taskNotFound(cmd, name string) error {
	return &ps.Error{Message: fmt.Sprintf("No MSFT_ScheduledTask objects found with property 'TaskName' equal to '%s'.  Verify the value of the property and retry.", name),
		Category: "ObjectNotFound", ErrorID: "CmdletizationQuery_NotFound_TaskName," + cmd}
}

func registerTask(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	s := g.lookup(inv.Host)
	name, path := arg(inv, "TaskName"), taskPath(inv)
	key := taskKey(path, name)
	if t := s.tasks[key]; t != nil && inv.Args["Force"] != true {
		return nil, &ps.Error{Message: "Cannot create a file when that file already exists.", Category: "ResourceExists", ErrorID: "HRESULT 0x800700b7,Register-ScheduledTask"}
	}
	if objString(inv.Args["Action"], "Execute") == "" {
		return nil, &ps.Error{Message: "The task XML is missing a required element or attribute. (Actions)", Category: "InvalidArgument", ErrorID: "HRESULT 0x80041319,Register-ScheduledTask"}
	}
	user, err := g.taskUser(inv)
	if err != nil {
		return nil, err
	}
	t := &schedTask{name: name, path: path, state: taskStateReady, lastResult: taskHasNotRun, user: user,
		execute: objString(inv.Args["Action"], "Execute"), arguments: objString(inv.Args["Action"], "Arguments"),
		multiple: objString(inv.Args["Settings"], "MultipleInstances")}
	if o, ok := inv.Args["Settings"].(*ps.Object); ok {
		t.settings = o
	} else {
		t.settings = ps.NewObject("Microsoft.Management.Infrastructure.CimInstance#Root/Microsoft/Windows/TaskScheduler/MSFT_TaskSettings3",
			"ExecutionTimeLimit", "PT72H", "Priority", int64(7), "MultipleInstances", "IgnoreNew")
	}
	if old := s.tasks[key]; old != nil && old.jobPID != 0 {
		t.jobPID, t.state = old.jobPID, old.state // re-registering does not stop a running instance
	}
	s.tasks[key] = t
	return []any{taskObject(s, t)}, nil
}

// taskUser is the account a task is registered to run as: a principal (New-ScheduledTaskPrincipal:
// SYSTEM by its SID, or a gMSA with a password logon Windows fulfils) or -User with -Password ("run
// whether the user is logged on or not": Task Scheduler checks the password when the task is registered).
// exchsim's directory has one named account, the scenario's credentials; any other name, or a wrong
// password, is the logon failure Windows gives. Callers hold g.mu.
func (g *Org) taskUser(inv ps.Invocation) (string, error) {
	principal, hasPrincipal := inv.Args["Principal"]
	user := arg(inv, "User")
	if hasPrincipal && user != "" {
		return "", &ps.Error{Message: "Parameter set cannot be resolved using the specified named parameters.", Category: "InvalidArgument", ErrorID: "AmbiguousParameterSet,Register-ScheduledTask", Terminating: true}
	}
	if hasPrincipal {
		id := objString(principal, "UserId")
		if strings.EqualFold(id, "SYSTEM") || strings.EqualFold(id, `NT AUTHORITY\SYSTEM`) {
			id = systemSID
		}
		return id, nil
	}
	if user == "" {
		return "", &ps.Error{Message: "exchsim models tasks that run as SYSTEM, a gMSA or a named account with its password, not as the registering user (they would run only while that user is logged on).", Category: "NotImplemented", ErrorID: "ExchsimTaskPrincipal,Register-ScheduledTask"}
	}
	simUser, simPassword := g.Credentials()
	domain, _ := g.Domain()
	dom, name, _ := strings.Cut(user, `\`)
	if !strings.EqualFold(dom, domain) || !strings.EqualFold(name, simUser) || arg(inv, "Password") != simPassword {
		return "", &ps.Error{Message: "The user name or password is incorrect. (Exception from HRESULT: 0x8007052E)", Category: "NotSpecified", ErrorID: "HRESULT 0x8007052e,Register-ScheduledTask"}
	}
	return user, nil
}

// systemSID is the SYSTEM account's well-known SID.
const systemSID = "S-1-5-18"

func taskObject(s *server, t *schedTask) *ps.Object {
	return ps.NewObject("Microsoft.Management.Infrastructure.CimInstance#Root/Microsoft/Windows/TaskScheduler/MSFT_ScheduledTask",
		"TaskName", t.name, "TaskPath", t.path, "State", stateEnum(t.state), "URI", t.path+t.name, "Author", s.spec.Name+`\exmaintd`, "Settings", t.settings)
}

func (g *Org) task(inv ps.Invocation, cmd string) (*server, *schedTask, error) {
	s := g.lookup(inv.Host)
	t := s.tasks[taskKey(taskPath(inv), arg(inv, "TaskName"))]
	if t == nil {
		return s, nil, taskNotFound(cmd, arg(inv, "TaskName"))
	}
	return s, t, nil
}

// startTask runs the task's action: only an exmaintd job is modelled (powershell.exe -EncodedCommand of a
// script whose first line is the job marker). The instance is detached from every shell: deleting the shell
// that started it does not end it; a reboot does.
func startTask(g *Org, inv ps.Invocation, now time.Time) ([]any, error) {
	s, t, err := g.task(inv, "Start-ScheduledTask")
	if err != nil {
		return nil, err
	}
	if t.jobPID != 0 && (t.multiple == "" || strings.EqualFold(t.multiple, "IgnoreNew")) {
		return nil, nil // IgnoreNew (the default): a second start while running does nothing
	}
	exe := strings.ToLower(t.execute)
	if !strings.HasSuffix(exe, "powershell.exe") && exe != "powershell" {
		return nil, &ps.Error{Message: "exchsim runs only exmaintd jobs as scheduled tasks: powershell.exe with -EncodedCommand.", Category: "NotImplemented", ErrorID: "ExchsimScheduledTask,Start-ScheduledTask"}
	}
	fields := strings.Fields(t.arguments)
	encoded := ""
	for i, f := range fields {
		if strings.EqualFold(f, "-EncodedCommand") && i+1 < len(fields) {
			encoded = fields[i+1]
		}
	}
	j, err := g.newJob(s, encoded, t.user, now)
	if err != nil {
		return nil, err
	}
	j.task = taskKey(t.path, t.name) // a task's instance runs in a local logon: the Windows Update API works there
	t.jobPID, t.state, t.lastRun = j.pid, taskStateRunning, now
	t.lastResult = 0x41301 // SCHED_S_TASK_RUNNING
	return nil, nil
}

func getTask(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	s, t, err := g.task(inv, "Get-ScheduledTask")
	if err != nil {
		return nil, err
	}
	return []any{taskObject(s, t)}, nil
}

func getTaskInfo(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	_, t, err := g.task(inv, "Get-ScheduledTaskInfo")
	if err != nil {
		return nil, err
	}
	var lastRun any
	if !t.lastRun.IsZero() {
		lastRun = t.lastRun
	}
	return []any{ps.NewObject("Microsoft.Management.Infrastructure.CimInstance#Root/Microsoft/Windows/TaskScheduler/MSFT_TaskDynamicInfo",
		"TaskName", t.name, "TaskPath", t.path, "LastTaskResult", t.lastResult, "LastRunTime", lastRun, "NumberOfMissedRuns", int64(0))}, nil
}

func unregisterTask(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	s, t, err := g.task(inv, "Unregister-ScheduledTask")
	if err != nil {
		return nil, err
	}
	delete(s.tasks, taskKey(t.path, t.name)) // a running instance is not stopped by unregistering
	return nil, nil
}

// taskJobEnded updates the task whose instance job j was: Ready, with exit (the wrapper's exit code) as its last
// result, or SCHED_S_TASK_TERMINATED when a reboot ended it. Callers hold g.mu.
func taskJobEnded(s *server, j *job, exit int, killed bool) {
	t := s.tasks[j.task]
	if t == nil || t.jobPID != j.pid {
		return
	}
	t.jobPID, t.state = 0, taskStateReady
	t.lastResult = int64(exit)
	if killed {
		t.lastResult = taskTerminated
	}
}
