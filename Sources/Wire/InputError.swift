/// A problem in a file a person wrote or a tool produced (rule catalog, fixture, target file,
/// world, profile, spec, results file): where it is and what was expected there, as
/// `file:line:column: path: message`, e.g.
/// `Fixtures/suites/rate-limit.json:14:19: $.fixtures[2].steps[0].repeat: expected a whole number from 1 to 10000, found a string`.
public struct InputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file name (or a description of the source, such as `<stdin>`).
    public var file: String
    /// 1-based line; 0 when the problem concerns the whole file.
    public var line: Int
    /// 1-based column (in bytes), when known.
    public var column: Int?
    /// The JSON path (`$.streams[0].arrivals.rate`) or the field (`t`, `proxy_header.name`) at
    /// fault, when there is one.
    public var path: String?
    public var message: String

    public init(file: String, line: Int = 0, column: Int? = nil, path: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
    }

    public var description: String {
        var text = file
        if line > 0 {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        text += ": "
        if let path, !path.isEmpty { text += path + ": " }
        return text + message
    }
}
