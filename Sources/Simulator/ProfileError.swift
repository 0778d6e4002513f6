/// A problem in a profile, a spec or a results file: where it is (file, line, column, field or
/// JSON path) and what was expected there.
public struct ProfileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file name (or a description of the source).
    public var source: String
    /// 1-based line; 0 when the problem concerns the whole file.
    public var line: Int
    /// 1-based column, when known.
    public var column: Int?
    /// The field (`t`, `client`, …) or JSON path (`$.streams[0].arrivals.rate`) at fault.
    public var field: String?
    public var message: String

    public init(source: String, line: Int, column: Int? = nil, field: String? = nil, message: String) {
        self.source = source
        self.line = line
        self.column = column
        self.field = field
        self.message = message
    }

    public var description: String {
        var text = source
        if line > 0 {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        text += ": "
        if let field { text += "\(field): " }
        return text + message
    }
}
