package psrp

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Destination of a message.
const (
	ToClient uint32 = 1
	ToServer uint32 = 2
)

// MessageType is a message's type (MS-PSRP 2.2.1).
type MessageType uint32

// The message types exmaintd and exchsim exchange (the rest are named for errors and logs).
const (
	SessionCapability      MessageType = 0x00010002
	InitRunspacePool       MessageType = 0x00010004
	PublicKey              MessageType = 0x00010005
	EncryptedSessionKey    MessageType = 0x00010006
	PublicKeyRequest       MessageType = 0x00010007
	ConnectRunspacePool    MessageType = 0x00010008
	RunspacePoolInitData   MessageType = 0x0002100B
	ResetRunspaceState     MessageType = 0x0002100C
	SetMaxRunspaces        MessageType = 0x00021002
	SetMinRunspaces        MessageType = 0x00021003
	RunspaceAvailability   MessageType = 0x00021004
	RunspacePoolStateMsg   MessageType = 0x00021005
	CreatePipeline         MessageType = 0x00021006
	GetAvailableRunspaces  MessageType = 0x00021007
	UserEvent              MessageType = 0x00021008
	ApplicationPrivateData MessageType = 0x00021009
	GetCommandMetadata     MessageType = 0x0002100A
	RunspacePoolHostCall   MessageType = 0x00021100
	RunspacePoolHostReply  MessageType = 0x00021101
	PipelineInput          MessageType = 0x00041002
	EndOfPipelineInput     MessageType = 0x00041003
	PipelineOutput         MessageType = 0x00041004
	ErrorRecordMsg         MessageType = 0x00041005
	PipelineStateMsg       MessageType = 0x00041006
	DebugRecord            MessageType = 0x00041007
	VerboseRecord          MessageType = 0x00041008
	WarningRecord          MessageType = 0x00041009
	ProgressRecord         MessageType = 0x00041010
	InformationRecord      MessageType = 0x00041011
	PipelineHostCall       MessageType = 0x00041100
	PipelineHostReply      MessageType = 0x00041101
)

func (t MessageType) String() string {
	names := map[MessageType]string{
		SessionCapability: "SESSION_CAPABILITY", InitRunspacePool: "INIT_RUNSPACEPOOL", PublicKey: "PUBLIC_KEY",
		EncryptedSessionKey: "ENCRYPTED_SESSION_KEY", PublicKeyRequest: "PUBLIC_KEY_REQUEST", ConnectRunspacePool: "CONNECT_RUNSPACEPOOL",
		RunspacePoolInitData: "RUNSPACEPOOL_INIT_DATA", ResetRunspaceState: "RESET_RUNSPACE_STATE", SetMaxRunspaces: "SET_MAX_RUNSPACES",
		SetMinRunspaces: "SET_MIN_RUNSPACES", RunspaceAvailability: "RUNSPACE_AVAILABILITY", RunspacePoolStateMsg: "RUNSPACEPOOL_STATE",
		CreatePipeline: "CREATE_PIPELINE", GetAvailableRunspaces: "GET_AVAILABLE_RUNSPACES", UserEvent: "USER_EVENT",
		ApplicationPrivateData: "APPLICATION_PRIVATE_DATA", GetCommandMetadata: "GET_COMMAND_METADATA",
		RunspacePoolHostCall: "RUNSPACEPOOL_HOST_CALL", RunspacePoolHostReply: "RUNSPACEPOOL_HOST_RESPONSE",
		PipelineInput: "PIPELINE_INPUT", EndOfPipelineInput: "END_OF_PIPELINE_INPUT", PipelineOutput: "PIPELINE_OUTPUT",
		ErrorRecordMsg: "ERROR_RECORD", PipelineStateMsg: "PIPELINE_STATE", DebugRecord: "DEBUG_RECORD", VerboseRecord: "VERBOSE_RECORD",
		WarningRecord: "WARNING_RECORD", ProgressRecord: "PROGRESS_RECORD", InformationRecord: "INFORMATION_RECORD",
		PipelineHostCall: "PIPELINE_HOST_CALL", PipelineHostReply: "PIPELINE_HOST_RESPONSE",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("0x%08X", uint32(t))
}

// Message is one PSRP message (MS-PSRP 2.2.1). Data is CLIXML text (UTF-8).
type Message struct {
	Destination uint32
	Type        MessageType
	RPID        GUID // the runspace pool
	PID         GUID // the pipeline; zero for a message to or from the pool itself
	Data        []byte
}

// messageHeader is Destination (4) + MessageType (4) + RPID (16) + PID (16).
const messageHeader = 40

// bom is the UTF-8 byte order mark Windows PowerShell writes before a message's XML.
const bom = "\xEF\xBB\xBF"

// Marshal encodes m. The data is written with a byte order mark, as Windows PowerShell does.
func (m Message) Marshal() []byte {
	b := make([]byte, 0, messageHeader+len(bom)+len(m.Data))
	b = binary.LittleEndian.AppendUint32(b, m.Destination)
	b = binary.LittleEndian.AppendUint32(b, uint32(m.Type))
	r, p := m.RPID.wire(), m.PID.wire()
	b = append(b, r[:]...)
	b = append(b, p[:]...)
	if !bytes.HasPrefix(m.Data, []byte(bom)) {
		b = append(b, bom...)
	}
	return append(b, m.Data...)
}

// ParseMessage decodes one reassembled message. A leading byte order mark is removed from Data.
func ParseMessage(b []byte) (Message, error) {
	if len(b) < messageHeader {
		return Message{}, fmt.Errorf("psrp message: %d bytes, a header needs %d", len(b), messageHeader)
	}
	m := Message{
		Destination: binary.LittleEndian.Uint32(b[0:4]),
		Type:        MessageType(binary.LittleEndian.Uint32(b[4:8])),
		RPID:        guidFromWire(b[8:24]),
		PID:         guidFromWire(b[24:40]),
		Data:        bytes.TrimPrefix(b[messageHeader:], []byte(bom)),
	}
	if m.Destination != ToClient && m.Destination != ToServer {
		return m, fmt.Errorf("psrp message %s: destination %d (want 1 or 2)", m.Type, m.Destination)
	}
	return m, nil
}
