/// A usage error: the message says what was wrong and the command exits with status 2.
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

/// Minimal command-line parsing: `--flag`, `--name value`, `--name=value`, repeatable options
/// and positionals. Each command declares which names take a value and which are switches,
/// so an unknown or misspelt option is an error instead of being silently ignored.
struct Arguments {
    private(set) var options: [String: [String]] = [:]
    private(set) var flags: Set<String> = []
    private(set) var positionals: [String] = []

    /// - Parameters:
    ///   - valued: option names (without `--`) that take a value.
    ///   - switches: option names that take none.
    init(_ args: [String], valued: Set<String>, switches: Set<String>) throws {
        var i = 0
        var onlyPositionals = false
        while i < args.count {
            let arg = args[i]
            i += 1
            if onlyPositionals || !arg.hasPrefix("--") || arg == "-" {
                if !onlyPositionals && arg.hasPrefix("-") && arg != "-" && arg.count > 1 && !arg.hasPrefix("--") {
                    if arg == "-h" { flags.insert("help"); continue }
                    throw UsageError("unknown option '\(arg)' (options are spelt with two dashes; see --help)")
                }
                positionals.append(arg)
                continue
            }
            if arg == "--" { onlyPositionals = true; continue }
            var name = String(arg.dropFirst(2))
            var inlineValue: String? = nil
            if let eq = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if name == "help" { flags.insert("help"); continue }
            if valued.contains(name) {
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    guard i < args.count else { throw UsageError("option --\(name) needs a value") }
                    value = args[i]
                    i += 1
                }
                options[name, default: []].append(value)
            } else if switches.contains(name) {
                if inlineValue != nil { throw UsageError("option --\(name) takes no value") }
                flags.insert(name)
            } else {
                throw UsageError("unknown option '--\(name)' (see --help)")
            }
        }
    }

    var wantsHelp: Bool { flags.contains("help") }

    func flag(_ name: String) -> Bool { flags.contains(name) }

    /// The last value given for `name` (a later option overrides an earlier one).
    func value(_ name: String) -> String? { options[name]?.last }

    func values(_ name: String) -> [String] { options[name] ?? [] }

    func int(_ name: String, default fallback: Int? = nil, range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let text = value(name) else { return fallback }
        guard let n = Int(text) else { throw UsageError("--\(name) expects a whole number, got '\(text)'") }
        if let range, !range.contains(n) {
            throw UsageError("--\(name) must be between \(range.lowerBound) and \(range.upperBound), got \(n)")
        }
        return n
    }

    func double(_ name: String, default fallback: Double? = nil) throws -> Double? {
        guard let text = value(name) else { return fallback }
        guard let n = Double(text), n.isFinite else { throw UsageError("--\(name) expects a number, got '\(text)'") }
        return n
    }

    func noPositionals() throws {
        if let first = positionals.first { throw UsageError("unexpected argument '\(first)'") }
    }
}
