@preconcurrency import Glibc
import Foundation

/// A usage error: the message says what was wrong and the command exits with status 2.
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

/// One option of a command. The table of a command's options is the only description of them:
/// the parser accepts exactly these names and the help text is generated from it, so the two
/// cannot drift apart.
struct OptionSpec: Sendable {
    /// What the value names, so that it can be checked before any work starts.
    enum Kind: Sendable {
        case plain
        /// A file read as input ("-": standard input).
        case inputFile
        /// A file or a directory read as input.
        case inputPath
        /// A file written ("-": standard output).
        case outputFile
        /// A directory written into (created when missing).
        case outputDirectory
    }

    let name: String
    /// The value's placeholder in the help (FILE, N, …); nil for a switch.
    let value: String?
    let help: String
    var kind: Kind = .plain
    /// A heading printed above this option in the help (groups related options).
    var section: String? = nil

    static func valued(_ name: String, _ value: String, _ help: String, kind: Kind = .plain, section: String? = nil) -> OptionSpec {
        OptionSpec(name: name, value: value, help: help, kind: kind, section: section)
    }

    static func flag(_ name: String, _ help: String, section: String? = nil) -> OptionSpec {
        OptionSpec(name: name, value: nil, help: help, section: section)
    }

    /// `--name VALUE` or `--name`.
    var synopsis: String { "--\(name)" + (value.map { " " + $0 } ?? "") }
}

/// The usage of one command: its options table, what it takes besides options, and the prose
/// of its help. `text` renders the help; `Arguments` parses with the same table.
struct CommandHelp: Sendable {
    /// The words after `mcsec` ("check", "bench redis").
    let path: String
    /// Positional arguments as shown in the usage line ("[FILE|-]"); empty for none.
    var positionals: String = ""
    /// What the command does: paragraphs shown after the usage line.
    let about: String
    let options: [OptionSpec]
    /// Shown after the options (exit statuses, notes).
    var footer: String = ""

    /// The usage line(s): every option of the table, wrapped at 96 columns.
    var usageLines: String {
        let head = "usage: mcsec \(path) "
        let indent = String(repeating: " ", count: head.count)
        var items = options.map { "[\($0.synopsis)]" }
        if !positionals.isEmpty { items.append(positionals) }
        var lines: [String] = []
        var line = head
        for item in items {
            if line.count > head.count && line.count + 1 + item.count > 96 {
                lines.append(line)
                line = indent
            }
            line += (line.hasSuffix(" ") ? "" : " ") + item
        }
        lines.append(line)
        return lines.joined(separator: "\n")
    }

    var text: String {
        var out = usageLines + "\n\n"
        if !about.isEmpty { out += about.hasSuffix("\n") ? about : about + "\n" }
        if !options.isEmpty {
            out += "\noptions:\n"
            let width = min(24, (options.map { $0.synopsis.count }.max() ?? 0) + 4)
            for option in options {
                if let section = option.section { out += "  \(section):\n" }
                let name = "  " + option.synopsis
                let helpLines = CommandHelp.wrap(option.help, width: 96 - width)
                if name.count + 2 > width {
                    out += name + "\n"
                    for l in helpLines { out += String(repeating: " ", count: width) + l + "\n" }
                } else {
                    for (i, l) in helpLines.enumerated() {
                        out += (i == 0 ? name.padding(toLength: width, withPad: " ", startingAt: 0) : String(repeating: " ", count: width)) + l + "\n"
                    }
                }
            }
            out += "  " + "--help".padding(toLength: width - 2, withPad: " ", startingAt: 0) + "print this help and exit\n"
        }
        if !footer.isEmpty { out += "\n" + (footer.hasSuffix("\n") ? footer : footer + "\n") }
        return out
    }

    /// `text` in lines of at most `width` characters (words kept whole).
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty || lines.isEmpty { lines.append(line) }
        return lines
    }
}

/// Minimal command-line parsing: `--flag`, `--name value`, `--name=value`, repeatable options
/// and positionals, against a command's option table, so that an unknown or misspelt option is
/// an error (naming the nearest known one) instead of being silently ignored.
struct Arguments {
    private(set) var options: [String: [String]] = [:]
    private(set) var flags: Set<String> = []
    private(set) var positionals: [String] = []
    /// The words as given (benchmarks record them in their JSON).
    let raw: [String]

    init(_ args: [String], _ help: CommandHelp) throws {
        raw = args
        let table = Dictionary(help.options.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var i = 0
        var onlyPositionals = false
        while i < args.count {
            let arg = args[i]
            i += 1
            if onlyPositionals || !arg.hasPrefix("--") || arg == "-" {
                if !onlyPositionals && arg.hasPrefix("-") && arg != "-" && arg.count > 1 && !arg.hasPrefix("--") {
                    if arg == "-h" { flags.insert("help"); continue }
                    throw UsageError("unknown option '\(arg)' (options are spelt with two dashes; see 'mcsec help \(help.path)')")
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
            guard let option = table[name] else {
                let hint = Nearest.name(to: name, in: table.keys.sorted()).map { "; did you mean --\($0)?" } ?? ""
                throw UsageError("unknown option '--\(name)'\(hint) (see 'mcsec help \(help.path)')")
            }
            if let placeholder = option.value {
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    // The next word is taken as the value unless it is another option of this
                    // command (then the value was forgotten), so "--rate -5" still reaches the
                    // range check.
                    guard i < args.count, !(args[i].hasPrefix("--") && (table[String(args[i].dropFirst(2).split(separator: "=").first ?? "")] != nil || args[i] == "--help")) else {
                        throw UsageError("option --\(name) needs a value (\(placeholder))")
                    }
                    value = args[i]
                    i += 1
                }
                options[name, default: []].append(value)
            } else {
                if inlineValue != nil { throw UsageError("option --\(name) takes no value") }
                flags.insert(name)
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

    /// Checks every file and directory the options name before any work starts: inputs exist,
    /// are files and readable; outputs can be created (their directory exists and is
    /// writable, and they are not a directory); an output directory is not an existing file.
    func checkPaths(_ help: CommandHelp) throws {
        for option in help.options {
            for path in values(option.name) {
                switch option.kind {
                case .plain: break
                case .inputFile: try PathCheck.readableFile(path, option: "--\(option.name)")
                case .inputPath: try PathCheck.readablePath(path, option: "--\(option.name)")
                case .outputFile: try PathCheck.writableFile(path, option: "--\(option.name)")
                case .outputDirectory: try PathCheck.writableDirectory(path, option: "--\(option.name)")
                }
            }
        }
    }
}

/// The closest of a few known names to a misspelt one (edit distance), for "did you mean".
enum Nearest {
    static func name(to word: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, distance(Array(word.lowercased()), Array($0.lowercased()))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        // Only a plausible typo: at most a third of the word wrong.
        return best.1 <= max(2, word.count / 3) ? best.0 : nil
    }

    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// Checks of paths named on the command line, with messages in plain words (never the
/// platform's error text): `--what PATH: why`.
enum PathCheck {
    /// The folder part of a path ("" for a bare name, "/" for a name at the root). Written out
    /// because this toolchain's `NSString.deletingLastPathComponent` traps on a one-character
    /// name such as `o`.
    static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        var parent = trimmed[..<slash]
        while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
        return String(parent)
    }

    static func readableFile(_ path: String, option: String) throws {
        guard path != "-" else { return }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw UsageError("\(option) \(path): no such file")
        }
        if isDirectory.boolValue { throw UsageError("\(option) \(path): is a directory, not a file") }
        guard access(path, R_OK) == 0 else { throw UsageError("\(option) \(path): permission denied (cannot read it)") }
    }

    static func readablePath(_ path: String, option: String) throws {
        var isDirectory: ObjCBool = false
        guard path == "-" || FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw UsageError("\(option) \(path): no such file or directory")
        }
        if isDirectory.boolValue { try readableDirectory(path, option: option) } else { try readableFile(path, option: option) }
    }

    static func readableDirectory(_ path: String, option: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw UsageError("\(option) \(path): no such directory")
        }
        if !isDirectory.boolValue { throw UsageError("\(option) \(path): is a file, not a directory") }
        guard access(path, R_OK | X_OK) == 0 else { throw UsageError("\(option) \(path): permission denied (cannot read it)") }
    }

    static func writableFile(_ path: String, option: String) throws {
        guard path != "-" else { return }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw UsageError("\(option) \(path): is a directory; give a file name") }
            guard access(path, W_OK) == 0 else { throw UsageError("\(option) \(path): permission denied (cannot write it)") }
            return
        }
        let parent = PathCheck.parent(of: path)
        let directory = parent.isEmpty ? "." : parent
        var parentIsDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &parentIsDirectory) else {
            throw UsageError("\(option) \(path): the directory \(directory) does not exist")
        }
        guard parentIsDirectory.boolValue else { throw UsageError("\(option) \(path): \(directory) is a file, not a directory") }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw UsageError("\(option) \(path): permission denied (cannot create files in \(directory))")
        }
    }

    static func writableDirectory(_ path: String, option: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw UsageError("\(option) \(path): is an existing file, not a directory") }
            guard access(path, W_OK | X_OK) == 0 else { throw UsageError("\(option) \(path): permission denied (cannot write into it)") }
            return
        }
        // Created later with its parents: the nearest existing ancestor must be a writable
        // directory.
        var ancestor = PathCheck.parent(of: path)
        while !ancestor.isEmpty && !FileManager.default.fileExists(atPath: ancestor) {
            ancestor = PathCheck.parent(of: ancestor)
        }
        let existing = ancestor.isEmpty ? "." : ancestor
        var existingIsDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: existing, isDirectory: &existingIsDirectory)
        guard existingIsDirectory.boolValue else { throw UsageError("\(option) \(path): \(existing) is a file, not a directory") }
        guard access(existing, W_OK | X_OK) == 0 else {
            throw UsageError("\(option) \(path): permission denied (cannot create it in \(existing))")
        }
    }

    /// An error of the platform's file layer in plain words ("no such file", "permission
    /// denied"), for the few reads and writes not covered by the checks above.
    static func plain(_ error: any Error) -> String {
        let ns = error as NSError
        var posix: Int32? = nil
        if ns.domain == NSPOSIXErrorDomain { posix = Int32(ns.code) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            posix = Int32(underlying.code)
        }
        if let posix { return String(cString: strerror(posix)).lowercased() }
        if ns.domain == NSCocoaErrorDomain {
            switch ns.code {
            case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return "no such file"
            case NSFileReadNoPermissionError, NSFileWriteNoPermissionError: return "permission denied"
            case NSFileWriteOutOfSpaceError: return "no space left on the device"
            case NSFileReadCorruptFileError: return "not valid JSON"
            case NSFileReadUnknownError: return "cannot be read"
            case NSFileWriteUnknownError, NSFileWriteFileExistsError: return "cannot be written"
            default: break
            }
        }
        return "\(error)"
    }
}
