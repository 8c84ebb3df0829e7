// Package templates holds the ticket templates and the remediation advice
// that gateway/content renders, embedded in the binary.
//
// Layout (a configuration directory overriding them uses the same layout,
// and its files win file by file):
//
//	<lang>/subject.tmpl    one line: reference, problem, addresses, customer
//	<lang>/body.tmpl       first message to the customer about a new case
//	<lang>/update.tmpl     what is new since the last message (open case)
//	<lang>/reopen.tmpl     the problem was seen again after the ticket closed
//	<lang>/internal.tmpl   summary for the desk (comment on the ticket)
//	<lang>/previous.tmpl   the sentence linking a closed earlier ticket
//	<lang>/common.tmpl     shared {{define}} blocks used by the files above
//	advice/<lang>.yaml     remediation advice keyed by classification
//
// Templates are Go text/template; the data they get and the functions they
// may call are documented in package gateway/content.
package templates

import (
	"embed"
	"io/fs"
)

//go:embed en de advice
var files embed.FS

// FS returns the embedded template and advice files.
func FS() fs.FS { return files }
