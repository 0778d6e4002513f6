/// One header field as it appeared on the wire (name spelling preserved).
public struct HTTPField: Sendable, Equatable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// An ordered list of header fields.
///
/// Order and duplicates are kept because they matter to the checks mcsec makes (the first
/// non-empty signature header wins; a duplicated `Content-Length` is a framing error), and
/// lookups compare names case-insensitively (RFC 9110 §5.1).
public struct HTTPFields: Sendable, Equatable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var entries: [HTTPField]

    public init() { entries = [] }

    public init(_ entries: [HTTPField]) { self.entries = entries }

    public init(_ pairs: [(String, String)]) {
        entries = pairs.map { HTTPField(name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        entries = elements.map { HTTPField(name: $0.0, value: $0.1) }
    }

    public func makeIterator() -> IndexingIterator<[HTTPField]> { entries.makeIterator() }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// The first value of `name`, or nil when absent.
    public subscript(name: String) -> String? {
        for field in entries where HTTPFields.equalNames(field.name, name) { return field.value }
        return nil
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        entries.compactMap { HTTPFields.equalNames($0.name, name) ? $0.value : nil }
    }

    public func contains(_ name: String) -> Bool {
        entries.contains { HTTPFields.equalNames($0.name, name) }
    }

    public mutating func reserveCapacity(_ minimumCapacity: Int) {
        entries.reserveCapacity(minimumCapacity)
    }

    /// Adds a field after the existing ones, keeping any earlier field of the same name.
    public mutating func append(_ name: String, _ value: String) {
        entries.append(HTTPField(name: name, value: value))
    }

    /// Replaces every field of `name` with a single one (appended at the end when absent).
    public mutating func set(_ name: String, _ value: String) {
        if let first = entries.firstIndex(where: { HTTPFields.equalNames($0.name, name) }) {
            entries[first].value = value
            var index = entries.count - 1
            while index > first {
                if HTTPFields.equalNames(entries[index].name, name) { entries.remove(at: index) }
                index -= 1
            }
        } else {
            append(name, value)
        }
    }

    public mutating func remove(_ name: String) {
        entries.removeAll { HTTPFields.equalNames($0.name, name) }
    }

    /// ASCII case-insensitive comparison; header names are ASCII tokens, so no Unicode folding
    /// (which would also be much slower on the hot path).
    @inlinable
    public static func equalNames(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                guard x.count == y.count else { return false }
                for i in 0..<x.count {
                    var p = x[i], q = y[i]
                    if p >= 65 && p <= 90 { p |= 0x20 }
                    if q >= 65 && q <= 90 { q |= 0x20 }
                    if p != q { return false }
                }
                return true
            }
        }
    }
}
