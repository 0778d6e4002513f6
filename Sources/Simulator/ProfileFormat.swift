// Rule: profile files are JSON Lines or CSV, read strictly. JSON Lines: one object per line
// with the fields t, client, endpoint, body_bytes, signature and optionally proxy_header
// ({"name", "value"} or null); unknown or repeated fields are errors. CSV: a header row naming
// the columns (t, client, endpoint, body_bytes, signature, and optionally proxy_header_name and
// proxy_header_value), in any order, then one row per event; RFC 4180 quoting. Blank lines are
// skipped. Times are decimal seconds with at most six decimals and no exponent, so that what is
// read is exactly what was written. Every error names the line, the column and the field.

/// The text formats of a profile.
public enum ProfileFormat: String, Sendable, CaseIterable {
    case jsonl
    case csv

    /// The format a file name suggests (`.csv` → CSV, anything else → JSON Lines).
    public static func guess(path: String) -> ProfileFormat {
        path.lowercased().hasSuffix(".csv") ? .csv : .jsonl
    }

    /// The CSV column names, required ones first.
    public static let csvColumns = ["t", "client", "endpoint", "body_bytes", "signature", "proxy_header_name", "proxy_header_value"]
    static let jsonFields = ["t", "client", "endpoint", "body_bytes", "signature", "proxy_header"]
}
