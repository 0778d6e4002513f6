/// What the container fixtures look at in a Dockerfile, read by the checker itself: the user
/// the final stage runs as, the `--chown` of its COPY/ADD instructions, and its VOLUMEs.
///
/// The page's rule is that the images run as a non-root user. Only the final stage is the
/// image that runs; it starts from its base image's user (root for the images in question)
/// unless it is built FROM an earlier stage, whose USER and ENV it then inherits. A USER that
/// depends on a build ARG is undetermined even with a default, because `--build-arg` can
/// change it at build time.
struct DockerfileInspection {
    enum FinalUser: Equatable {
        case nonRoot(String)
        case root(String)
        case undetermined(String)
    }

    let finalUser: FinalUser
    /// COPY/ADD instructions of the final stage, continuation lines joined.
    let copies: [String]
    let volumes: [String]

    init(text: String) {
        let reading = DockerfileReading(text)
        var copies: [String] = []
        var volumes: [String] = []
        for instruction in reading.instructions {
            switch instruction.keyword {
            case "FROM": copies = []; volumes = []
            case "COPY", "ADD": copies.append(instruction.text)
            case "VOLUME": volumes.append(instruction.arguments)
            default: break
            }
        }
        self.copies = copies
        self.volumes = volumes
        finalUser = DockerfileInspection.readFinalUser(reading)
    }

    var finalUserName: String {
        switch finalUser {
        case .nonRoot: return "nonRoot"
        case .root: return "root"
        case .undetermined: return "undetermined"
        }
    }

    var user: String? {
        if case .nonRoot(let user) = finalUser { return user }
        return nil
    }

    var finalUserDescription: String {
        switch finalUser {
        case .nonRoot(let user): return "final stage runs as \(user)"
        case .root(let reason): return "final stage runs as root: \(reason)"
        case .undetermined(let reason): return "final stage user undetermined: \(reason)"
        }
    }

    /// Final-stage COPY/ADD instructions without `--chown=<owner>` (COPY --from of build
    /// artefacts included: they land owned by root too).
    func copiesWithoutChown(_ owner: String) -> [String] {
        copies.filter { !$0.contains("--chown=\(owner)") }
    }

    // MARK: the final stage's user

    /// A word or variable: its text, the build ARG that went into it (if any), whether it is
    /// itself an ARG (those do not carry into a stage built on this one; ENV does), and why it
    /// cannot be read (an unterminated `${`).
    struct Value {
        var text: String
        var fromBuildArg: String?
        var isArg = false
        var problem: String? = nil
    }

    struct Stage {
        var name: String?
        var line: Int
        var base: Int?
        var imageArg: String?
        var variables: [String: Value] = [:]
        var user: (words: [Value], written: String, line: Int)?
        var problem: String?
    }

    static func readFinalUser(_ reading: DockerfileReading) -> FinalUser {
        var globals: [String: String?] = [:]
        var stages: [Stage] = []
        for instruction in reading.instructions {
            let escape = reading.escape
            switch instruction.keyword {
            case "FROM":
                var stage = Stage(line: instruction.line)
                let words = DockerfileReading.words(instruction.arguments, escape: escape) { name in
                    globals[name].map { Value(text: $0 ?? "", fromBuildArg: name) }
                }.filter { !$0.text.hasPrefix("--") }
                guard let image = words.first else {
                    stage.problem = "line \(instruction.line): FROM names no image"
                    stages.append(stage)
                    continue
                }
                if words.count >= 3, words[1].text.lowercased() == "as" { stage.name = words[2].text.lowercased() }
                if let base = stages.lastIndex(where: { $0.name != nil && $0.name == image.text.lowercased() }) {
                    stage.base = base
                    stage.variables = stages[base].variables.filter { !$0.value.isArg }
                }
                stage.imageArg = image.fromBuildArg
                stages.append(stage)
            case "ARG":
                for word in DockerfileReading.words(instruction.arguments, escape: escape, lookup: { _ in nil }) {
                    let (name, value) = assignment(word.text)
                    guard !name.isEmpty else { continue }
                    if stages.isEmpty {
                        globals[name] = .some(value)
                    } else if stages[stages.count - 1].variables[name].map(\.isArg) ?? true {
                        // An ENV of the same name wins over the ARG; an ARG without a default
                        // takes the global one.
                        let fallback = globals[name] ?? nil
                        stages[stages.count - 1].variables[name] = Value(text: value ?? fallback ?? "", fromBuildArg: name, isArg: true)
                    }
                }
            case "ENV":
                guard !stages.isEmpty else { continue }
                let before = stages[stages.count - 1].variables
                let words = DockerfileReading.words(instruction.arguments, escape: escape) { before[$0] }
                guard let first = words.first else { continue }
                if first.text.contains("=") {
                    for word in words {
                        let (name, value) = assignment(word.text)
                        if !name.isEmpty { stages[stages.count - 1].variables[name] = Value(text: value ?? "", fromBuildArg: word.fromBuildArg) }
                    }
                } else {
                    let rest = words.dropFirst()
                    stages[stages.count - 1].variables[first.text] =
                        Value(text: rest.map(\.text).joined(separator: " "), fromBuildArg: rest.compactMap(\.fromBuildArg).first)
                }
            case "USER":
                guard !stages.isEmpty else { continue }
                let vars = stages[stages.count - 1].variables
                let words = DockerfileReading.words(instruction.arguments, escape: escape) { vars[$0] }
                stages[stages.count - 1].user = (words, instruction.arguments, instruction.line)
            default:
                continue
            }
        }
        guard var index = stages.indices.last else { return .undetermined("no FROM instruction") }
        while stages[index].user == nil, stages[index].problem == nil, let base = stages[index].base {
            if let arg = stages[index].imageArg {
                return .undetermined("line \(stages[index].line): the base stage comes from build ARG \(arg) and the final stage sets no USER")
            }
            index = base
        }
        if let problem = stages[index].problem { return .undetermined(problem) }
        guard let user = stages[index].user else { return .root("no USER instruction") }
        let at = "line \(user.line): USER \(user.written)"
        guard user.words.count == 1, let word = user.words.first else {
            return .undetermined("\(at): USER takes exactly one value")
        }
        if let problem = word.problem { return .undetermined("\(at): \(problem)") }
        if let arg = word.fromBuildArg { return .undetermined("\(at) depends on build ARG \(arg)") }
        let name = word.text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        if name.isEmpty { return .undetermined("\(at) names no user") }
        if name == "root" || name.allSatisfy({ $0 == "0" }) { return .root("\(at) (uid 0)") }
        return .nonRoot(word.text)
    }

    static func assignment(_ text: String) -> (String, String?) {
        guard let eq = text.firstIndex(of: "=") else { return (text, nil) }
        return (String(text[..<eq]), String(text[text.index(after: eq)...]))
    }
}

/// A Dockerfile's instructions: the `# escape=` parser directive, comments, continuation
/// lines and heredoc bodies handled as BuildKit reads them.
struct DockerfileReading {
    struct Instruction {
        var keyword: String
        var arguments: String
        /// The whole instruction, continuations joined.
        var text: String
        var line: Int
    }

    var escape: Character = "\\"
    var instructions: [Instruction] = []

    init(_ text: String) {
        // "\r\n" is one Character in Swift, so lines split at either form.
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.map { line -> Substring in
            line.hasSuffix("\r") ? line.dropLast() : line
        }
        var index = 0
        // Parser directives: only at the very top, before any other line.
        while index < lines.count, let directive = DockerfileReading.directive(lines[index]) {
            if directive.key == "escape", directive.value == "`" || directive.value == "\\" { escape = Character(directive.value) }
            index += 1
        }
        var pending = ""
        var start = 0
        var heredocs: [(word: String, stripTabs: Bool)] = []
        while index < lines.count {
            let raw = lines[index]
            index += 1
            if !heredocs.isEmpty {
                let body = heredocs[0].stripTabs ? raw.drop { $0 == "\t" } : raw
                if body == heredocs[0].word { heredocs.removeFirst() }
                continue
            }
            let trimmed = raw.trimmingASCIIWhitespace()
            if trimmed.hasPrefix("#") || (trimmed.isEmpty && !pending.isEmpty) { continue }
            if pending.isEmpty { start = index }
            // A continuation joins the next line as written (its indentation separates words);
            // only the escape character and what trails it go.
            let text = pending.isEmpty ? trimmed : raw[..<trimmed.endIndex]
            if trimmed.last == escape {
                let end = text.lastIndex(of: escape)!
                pending += text[..<end]
                continue
            }
            pending += text
            let instruction = pending.trimmingASCIIWhitespace()
            pending = ""
            guard !instruction.isEmpty else { continue }
            let keyword = instruction.prefix { !$0.isWhitespace }
            let arguments = instruction.dropFirst(keyword.count).trimmingASCIIWhitespace()
            instructions.append(Instruction(keyword: keyword.uppercased(), arguments: String(arguments), text: String(instruction), line: start))
            heredocs = DockerfileReading.heredocs(in: arguments)
        }
        let rest = pending.trimmingASCIIWhitespace()
        if !rest.isEmpty {
            let keyword = rest.prefix { !$0.isWhitespace }
            instructions.append(Instruction(keyword: keyword.uppercased(), arguments: String(rest.dropFirst(keyword.count).trimmingASCIIWhitespace()),
                                            text: String(rest), line: start))
        }
    }

    /// `# key=value` at the top of the file.
    static func directive(_ line: Substring) -> (key: String, value: String)? {
        let t = line.trimmingASCIIWhitespace()
        guard t.hasPrefix("#"), let eq = t.firstIndex(of: "=") else { return nil }
        let key = t[t.index(after: t.startIndex)..<eq].trimmingASCIIWhitespace().lowercased()
        guard !key.isEmpty, key.allSatisfy({ $0.isLetter }) else { return nil }
        return (key, String(t[t.index(after: eq)...].trimmingASCIIWhitespace()))
    }

    /// The heredoc words an instruction opens (`<<EOF`, `<<-EOF`, `<<"EOF"`), in order.
    static func heredocs(in arguments: Substring) -> [(word: String, stripTabs: Bool)] {
        var out: [(String, Bool)] = []
        var rest = arguments[...]
        while let r = rest.range(of: "<<") {
            var after = rest[r.upperBound...]
            let strip = after.first == "-"
            if strip { after = after.dropFirst() }
            var word = after.prefix { !$0.isWhitespace && $0 != ">" && $0 != "|" && $0 != ";" && $0 != "&" }
            if let q = word.first, q == "\"" || q == "'", word.count >= 2, word.last == q { word = word.dropFirst().dropLast() }
            if !word.isEmpty, word.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) { out.append((String(word), strip)) }
            rest = after.dropFirst(max(1, word.count))
        }
        return out
    }

    /// Whitespace-separated words with quotes removed and variables substituted
    /// (`$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME:+alternative}`); the escape character
    /// makes the next character literal; nothing is substituted inside single quotes.
    static func words(_ text: String, escape: Character,
                      lookup: (String) -> DockerfileInspection.Value?) -> [DockerfileInspection.Value] {
        var out: [DockerfileInspection.Value] = []
        var current = ""
        var arg: String? = nil
        var problem: String? = nil
        var inWord = false
        var quote: Character? = nil
        var chars = Array(text)[...]
        func flush() {
            if inWord { out.append(DockerfileInspection.Value(text: current, fromBuildArg: arg, problem: problem)) }
            current = ""; arg = nil; problem = nil; inWord = false
        }
        func substitute() {
            // After '$'.
            if chars.first == "{" {
                guard let close = chars.firstIndex(of: "}") else {
                    problem = "unterminated ${"
                    chars = chars[chars.endIndex...]
                    return
                }
                let inner = String(chars[chars.index(after: chars.startIndex)..<close])
                chars = chars[chars.index(after: close)...]
                var name = inner
                var modifier: (op: String, word: String)? = nil
                if let r = inner.range(of: ":-") ?? inner.range(of: ":+") {
                    name = String(inner[..<r.lowerBound])
                    modifier = (String(inner[r]), String(inner[r.upperBound...]))
                }
                let value = lookup(name)
                // A build ARG decides the result whichever way the operator goes.
                arg = arg ?? value?.fromBuildArg
                let set = value.map { !$0.text.isEmpty } ?? false
                switch modifier?.op {
                case ":-": current += set ? value!.text : modifier!.word
                case ":+": if set { current += modifier!.word }
                default: current += value?.text ?? ""
                }
            } else {
                let name = chars.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                guard !name.isEmpty else { current.append("$"); return }
                chars = chars.dropFirst(name.count)
                let value = lookup(String(name))
                current += value?.text ?? ""
                arg = arg ?? value?.fromBuildArg
            }
        }
        while let c = chars.popFirst() {
            if quote == "'" {
                if c == "'" { quote = nil } else { current.append(c) }
                continue
            }
            if c == escape, let next = chars.popFirst() {
                inWord = true
                current.append(next)
                continue
            }
            if c == "\"" { inWord = true; quote = quote == "\"" ? nil : "\""; continue }
            if c == "'" && quote == nil { inWord = true; quote = "'"; continue }
            if c == "$" { inWord = true; substitute(); continue }
            if c.isWhitespace && quote == nil { flush(); continue }
            inWord = true
            current.append(c)
        }
        if quote != nil { problem = "unterminated quote" }
        flush()
        return out
    }
}
