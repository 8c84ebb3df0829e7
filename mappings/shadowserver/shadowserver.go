// Package shadowserver holds the Shadowserver report schema that abusegw
// embeds in its binary.
//
// intelmq.json is Shadowserver's published IntelMQ schema
// (https://interchange.shadowserver.org/intelmq/v1/schema, mirrored in
// github.com/The-Shadowserver-Foundation/report_schema). It maps the columns
// of every Shadowserver CSV report type to IntelMQ harmonization fields. It is
// kept as data, never hand-edited, so that `abusegw schema update` can replace
// it at run time with a newer download (see normalizer/shadowserver).
//
// Licence note: the upstream repository declares no licence; see
// shared/fixtures/SOURCES.md before redistributing.
package shadowserver

import _ "embed"

// Schema is the embedded intelmq.json, read-only by convention: parse it with
// normalizer/shadowserver.LoadSchema (or DefaultSchema) rather than using the
// bytes directly.
//
//go:embed intelmq.json
var Schema []byte
