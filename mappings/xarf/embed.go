// Package xarf holds the JSON schemas that X-ARF reports are validated
// against, embedded so the binary needs no network and no files at run time.
//
// Layout of Schemas:
//
//	schemas/v4/            xarf/xarf-spec v4.2.0 (MIT): xarf-core.json,
//	                       xarf-v4-master.json and types/<category>-<type>.json
//	schemas/v3/            abusix/xarf schemas/3 (MIT), the authoritative v3
//	                       schemas: xarf.schema.json, xarf_shared.schema.json
//	                       and one <type>.schema.json per report type
//
// Every file carries its own "$id"; normalizer/xarf registers each file under
// that id, so the relative "$ref"s between them resolve without a network.
// The files are copied unchanged from the upstream repositories (see
// SOURCES.md next to this file). xarf-spec's "v3 legacy" schema is not
// included: it does not validate against its own metaschema (prose strings
// where subschemas belong, under $defs/v3_to_v4_mapping).
package xarf

import "embed"

// Schemas is the embedded schema tree described in the package comment.
//
//go:embed schemas
var Schemas embed.FS
