package psrp

import (
	"fmt"
	"strings"
)

// ErrorRecord is the part of a System.Management.Automation.ErrorRecord (MS-PSRP 2.2.3.15) that a client
// acts on and an operator reads.
type ErrorRecord struct {
	Message               string // the exception's message
	FullyQualifiedErrorID string // e.g. "CommandNotFoundException" or "[Server=EX01,...] 5A1B2C,Microsoft.Exchange...GetQueue"
	Category              string // ErrorCategory name, e.g. "ObjectNotFound"
	ExceptionType         string // the .NET exception type, e.g. "System.Management.Automation.CommandNotFoundException"
	TargetName            string
	Activity              string // usually the command that failed
}

// errorCategories are the ErrorCategory names by value (MS-PSRP 2.2.3.9).
func errorCategories() []string {
	return []string{"NotSpecified", "OpenError", "CloseError", "DeviceError", "DeadlockDetected", "InvalidArgument",
		"InvalidData", "InvalidOperation", "InvalidResult", "InvalidType", "MetadataError", "NotImplemented", "NotInstalled",
		"ObjectNotFound", "OperationStopped", "OperationTimeout", "SyntaxError", "ParserError", "PermissionDenied",
		"ResourceBusy", "ResourceExists", "ResourceUnavailable", "ReadError", "WriteError", "FromStdErr", "SecurityError",
		"ProtocolError", "ConnectionError", "AuthenticationError", "LimitsExceeded", "QuotaExceeded", "NotEnabled"}
}

func categoryCode(name string) int32 {
	for i, c := range errorCategories() {
		if strings.EqualFold(c, name) {
			return int32(i) //nolint:gosec // a short fixed list
		}
	}
	return 0
}

func (r ErrorRecord) Error() string {
	if r.FullyQualifiedErrorID == "" {
		return r.Message
	}
	return r.Message + " (" + r.FullyQualifiedErrorID + ")"
}

// shortType is the last dotted part of a .NET type name (ErrorCategory_Reason carries it).
func shortType(t string) string {
	return t[strings.LastIndex(t, ".")+1:]
}

// Object serialises the record as Windows PowerShell does (the extended properties of MS-PSRP 2.2.3.15,
// without InvocationInfo).
func (r ErrorRecord) Object() *Object {
	exType := r.ExceptionType
	if exType == "" {
		exType = "System.Management.Automation.RuntimeException"
	}
	category := r.Category
	if category == "" {
		category = "NotSpecified"
	}
	ex := &Object{
		TypeNames:   []string{exType, "System.Exception", "System.Object"},
		ToString:    exType + ": " + r.Message,
		HasToString: true,
		Props: []Property{
			{"Message", r.Message},
			{"Data", &Object{TypeNames: []string{"System.Collections.ListDictionaryInternal", "System.Object"}, IsDict: true}},
			{"InnerException", nil},
			{"TargetSite", nil},
			{"StackTrace", nil},
			{"HelpLink", nil},
			{"Source", nil},
			{"HResult", int32(-2146233087)},
		},
	}
	return &Object{
		TypeNames:   []string{"System.Management.Automation.ErrorRecord", "System.Object"},
		ToString:    r.Message,
		HasToString: true,
		Members: []Property{
			{"Exception", ex},
			{"TargetObject", nilIfEmpty(r.TargetName)},
			{"FullyQualifiedErrorId", r.FullyQualifiedErrorID},
			{"InvocationInfo", nil},
			{"ErrorCategory_Category", categoryCode(category)},
			{"ErrorCategory_Activity", nilIfEmpty(r.Activity)},
			{"ErrorCategory_Reason", shortType(exType)},
			{"ErrorCategory_TargetName", r.TargetName},
			{"ErrorCategory_TargetType", "String"},
			{"ErrorCategory_Message", fmt.Sprintf("%s: (%s:String) [%s], %s", category, r.TargetName, r.Activity, shortType(exType))},
			{"SerializeExtendedInfo", false},
			{"ErrorDetails_ScriptStackTrace", nil},
		},
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ParseErrorRecord reads a deserialised ErrorRecord. It never fails: what is missing stays empty, and the
// message falls back to ErrorDetails_Message, then to the record's ToString.
func ParseErrorRecord(o *Object) ErrorRecord {
	var r ErrorRecord
	if ex, ok := member(o, "Exception").(*Object); ok && ex != nil {
		r.Message = Text(member(ex, "Message"))
		r.ExceptionType = ex.TypeName()
		if r.Message == "" && ex.HasToString {
			r.Message = ex.ToString
		}
	}
	if d := Text(member(o, "ErrorDetails_Message")); d != "" {
		r.Message = d
	}
	if r.Message == "" && o != nil {
		r.Message = o.ToString
	}
	r.FullyQualifiedErrorID = Text(member(o, "FullyQualifiedErrorId"))
	if n, ok := Int(member(o, "ErrorCategory_Category")); ok && n >= 0 && int(n) < len(errorCategories()) {
		r.Category = errorCategories()[n]
	}
	r.TargetName = Text(member(o, "ErrorCategory_TargetName"))
	r.Activity = Text(member(o, "ErrorCategory_Activity"))
	return r
}
