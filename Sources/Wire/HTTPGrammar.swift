/// The few pieces of text grammar every module needs, defined once.
public enum HTTPGrammar {
    /// RFC 9110 `tchar`: the bytes of a token (field names, methods, chunk extensions).
    @inline(__always)
    public static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }

    /// An RFC 9110 token: one or more `tchar`.
    public static func isToken(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy(isTokenByte)
    }

    /// Whitespace as mcsec trims it everywhere: space, tab, CR and LF. Nothing Unicode-aware:
    /// a no-break space in a configured value is part of the value, as it is to the servers
    /// that read those values.
    @inline(__always)
    public static func isWhitespace(_ c: Character) -> Bool {
        c == " " || c == "\t" || c == "\r" || c == "\n" || c == "\r\n"
    }
}

extension StringProtocol {
    /// The text without leading and trailing `HTTPGrammar.isWhitespace` characters.
    public func trimmingASCIIWhitespace() -> SubSequence {
        var start = startIndex
        var end = endIndex
        while start < end && HTTPGrammar.isWhitespace(self[start]) { start = index(after: start) }
        while end > start && HTTPGrammar.isWhitespace(self[index(before: end)]) { end = index(before: end) }
        return self[start..<end]
    }
}
