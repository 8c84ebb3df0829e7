// Package shadowserver reads Shadowserver's CSV reports, every report type,
// driven by the schema Shadowserver publishes for IntelMQ (intelmq.json).
//
// The schema is data, embedded from mappings/shadowserver and replaceable at
// run time (UpdateSchema, LoadSchemaFrom). LoadSchema compiles each report
// type once: every [field, column, converter] entry is resolved to a typed
// converter and a harmonization field, and an unknown converter or field is
// a load error rather than a silently skipped column. NewReader then binds a
// report type to one file's header, and Next applies that plan row by row,
// streaming through encoding/csv.
//
// Rows are turned into events the way IntelMQ's ShadowserverParserBot
// (intelmq/bots/parsers/shadowserver/parser.py) does:
//
//   - Required fields are mapped first. A required column that is absent
//     from the header, or cut off by a short row, and a required value that
//     its converter or field rejects, make the row a *normalizer.RowError.
//     A converter may still decide a value is "none" (validate_ip on
//     0.0.0.0): the field is then not set and the raw value goes to extra.
//   - Optional fields follow. A column missing from the header is skipped;
//     a value its harmonization field rejects is kept under extra.<column>;
//     a converter error (convert_int on "abc") rejects the row, as in IntelMQ.
//     Fields IntelMQ added after the harmonization the normalizer embeds
//     (severity, product.*) go to extra.<field>, IntelMQ's fallback for
//     older installations.
//   - constant_fields (classification.*, protocol.*) are set last and win.
//   - Every non-empty column that no mapping consumed goes to
//     extra.<column>.
//   - Short rows are padded with empty values and long rows' surplus
//     values are ignored, as csv.DictReader does for IntelMQ.
//   - Empty values ("", and "-" or "N/A" for harmonization fields, as
//     IntelMQ's Message.add) are not set.
//
// Older files: beside the current schema every Schema holds a legacy
// overlay (mappings/shadowserver/legacy.json, same shape) of retired and
// changed report definitions. Lookup falls back to it for a type the
// current schema lacks (sinkhole_http_drone, phish_url); Resolve picks a
// legacy definition of the same type when a file's header lacks a required
// column of the current one (the 2022 malware_url without port); header
// detection scores it only when no current type fits. When a header fits
// an IPv4 and an IPv6 variant equally (scan_ntp, scan6_ntp) and the file
// name does not say, the first row's address decides.
//
// Every event also carries feed.name (the schema's feed_name),
// feed.provider "Shadowserver", feed.documentation (the schema's url) and a
// RawRef with the file name and the CSV line of the row. Timestamps without
// a zone are UTC.
package shadowserver
