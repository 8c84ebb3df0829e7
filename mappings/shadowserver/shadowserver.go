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
// legacy.json is abusegw's overlay of older and retired report definitions
// (sinkhole_http_drone, botnet_drone, phish_url, the 2022 malware_url, …) in
// the same shape. The parser consults it only for report types intelmq.json
// lacks, or when a file's header lacks the required columns of the current
// definition. See SOURCES.md for where both come from.
//
// Licence note: the upstream repository of intelmq.json declares no licence;
// see SOURCES.md and shared/fixtures/SOURCES.md before redistributing.
package shadowserver

import _ "embed"

// Schema is the embedded intelmq.json, read-only by convention: parse it with
// normalizer/shadowserver.LoadSchema (or DefaultSchema) rather than using the
// bytes directly.
//
//go:embed intelmq.json
var Schema []byte

// Legacy is the embedded legacy.json, read-only by convention: LoadSchema
// compiles it beside every schema.
//
//go:embed legacy.json
var Legacy []byte
